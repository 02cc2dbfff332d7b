"""Evaluation tests: test the model like code, against a model package, before it ships.

``[tests]`` in dlstack.toml declares what a package must meet: minimum (or maximum)
metrics overall and per slice, a latency and a size budget, invariances (a 1-pixel shift
must not change the answer more than X% of the time) and directional expectations. Some
checks always run: numerical stability (finite probabilities, also on extreme inputs),
training/serving skew (the serving path from encoded images against the training path
from arrays), and, when the package has an earlier version, regression of quality and
latency against it. The package is used the way serving uses it (onnxruntime only).

Each kind of check is one strategy, ``check(ctx) -> list[EvalCheck]``, and
:data:`EVAL_CHECKS` is their order: :func:`run_eval_tests` measures once (metrics,
latency, size), then runs the list.

>>> report = check_package(project, ".dlstack/models/digits")  # doctest: +SKIP
>>> report.passed, [c.name for c in report.failures]  # doctest: +SKIP
(False, ['accuracy >= 0.99'])

Results are written as records under ``.dlstack/tests/`` where `dlstack score` finds them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from dlstack.errors import DataError
from dlstack.evaluate import _eval_builtin as builtin
from dlstack.evaluate import _eval_checks as declared
from dlstack.evaluate._eval_checks import CheckContext, EvalStrategy
from dlstack.evaluate._eval_data import EvalData, eval_data
from dlstack.evaluate._eval_report import EvalCheck, EvalTestReport
from dlstack.evaluate._package_eval import (
    DEFAULT_PERCENTILES,
    measure_latency,
    package_metrics,
    package_size_mb,
)

if TYPE_CHECKING:
    from dlstack.config import EvalTestsConfig, Project
    from dlstack.package import ModelPackage

__all__ = ["EVAL_CHECKS", "check_package", "run_eval_tests"]

# The order of the report: what [tests] declares, then what always runs.
EVAL_CHECKS: tuple[EvalStrategy, ...] = (
    declared.metric_checks,
    declared.slice_checks,
    declared.latency_check,
    declared.size_check,
    declared.invariance_checks,
    declared.directional_checks,
    builtin.stability_check,
    builtin.skew_check,
    builtin.recorded_metrics_check,
    builtin.regression_checks,
    builtin.staleness_check,
)


def run_eval_tests(
    package: ModelPackage,
    data: EvalData,
    config: EvalTestsConfig | None = None,
    *,
    previous: ModelPackage | None = None,
    checks: tuple[EvalStrategy, ...] = EVAL_CHECKS,
) -> EvalTestReport:
    """Run every check ``config`` declares, plus the built-in ones, on ``data``."""
    from dlstack.config import EvalTestsConfig

    cfg = config if config is not None else EvalTestsConfig()
    if len(data) == 0:
        raise DataError(f"no examples to test on in split {data.split!r}")
    started = time.perf_counter()
    values, targets, probabilities = package_metrics(package, data)
    percentiles = sorted({*DEFAULT_PERCENTILES, cfg.latency_percentile})
    values.update(measure_latency(package, data, percentiles=percentiles))
    values["size_mb"] = package_size_mb(package)
    declared.check_names(cfg, values, data)

    ctx = CheckContext(cfg, package, data, values, targets, probabilities, previous)
    found: list[EvalCheck] = [c for check in checks for c in check(ctx)]
    return EvalTestReport(
        package=str(package.path),
        name=package.spec.name,
        version=package.spec.version,
        data_version=data.data_version,
        split=data.split,
        n=len(data),
        checks=found,
        metrics={k: v for k, v in values.items() if "[" not in k},
        seconds=time.perf_counter() - started,
    )


def check_package(
    project: Project,
    package_path: str | Path,
    *,
    version: str | None = None,
    write: bool = True,
) -> EvalTestReport:
    """`dlstack test`: load the package, test it on its data version (or ``version``).

    The previous version of the package, if any, is the reference for regressions. With
    ``write`` the report is saved under ``.dlstack/tests/`` for `dlstack score`.
    """
    from dlstack.package import load_package, previous_version

    package = load_package(package_path)
    cfg = project.config.tests
    ref = version or package.spec.data_version or "HEAD"
    try:
        data = eval_data(project, version=ref, split=cfg.split)
    except DataError as e:
        if version is None and package.spec.data_version:
            raise DataError(
                f"{e}; the package was trained on data version "
                f"{package.spec.data_version[:12]}, which this project cannot check out; "
                f"pass --data HEAD (or a version) to test it on other data"
            ) from None
        raise
    older = previous_version(package.path)
    previous = None
    if older is not None:
        try:
            previous = load_package(older)
        except Exception:  # a damaged old version is no reason not to test this one
            previous = None
    report = run_eval_tests(package, data, cfg, previous=previous)
    if write:
        report.write_json(project.tests_dir)
    return report
