"""A pytest plugin for model tests written by the user, against a model package.

Enable it in a ``conftest.py`` (``pytest_plugins = ["dlstack.evaluate.pytest_plugin"]``)
or with ``pytest -p dlstack.evaluate.pytest_plugin``, and point it at a package:

    pytest tests/model --dlstack-package .dlstack/models/digits --dlstack-project .

Fixtures:

- ``dlstack_package``: the :class:`~dlstack.serve.ModelPackage` (onnxruntime, no torch);
- ``dlstack_data``: the package's data version's test split, an
  :class:`~dlstack.evaluate.EvalData` (images, labels, classes, ids, metadata);
- ``dlstack_predict``: ``predict(images) -> labels``, uint8 images to label names;
- ``dlstack_metrics``: every metric of the package on ``dlstack_data`` by name.

A test, for example::

    def test_sevens_are_recognized(dlstack_metrics):
        assert dlstack_metrics["recall[7]"] >= 0.95

    def test_thicker_pen_keeps_the_answer(dlstack_data, dlstack_predict):
        from dlstack.evaluate import perturb
        before = dlstack_predict(dlstack_data.images)
        after = dlstack_predict(perturb(dlstack_data.images, "thicken", 1))
        assert (before != after).mean() <= 0.05

Without a package the fixtures skip the test, saying why. When any test used them, the
session's counts are written (atomically, a :class:`~dlstack.evaluate.PytestRecord`) to
``.dlstack/tests/pytest-<time>.json`` in the project, where `dlstack score` finds them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

__all__ = ["PACKAGE_ENV", "PROJECT_ENV"]

PACKAGE_ENV = "DLSTACK_PACKAGE"  # the options' fallbacks, for CI configs
PROJECT_ENV = "DLSTACK_PROJECT"
_USED = pytest.StashKey[dict[str, int]]()
_FIXTURES = ("dlstack_package", "dlstack_data", "dlstack_predict", "dlstack_metrics")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dlstack", "model tests against a dlstack model package")
    group.addoption(
        "--dlstack-package",
        default=None,
        help=f"model package directory (or its name dir); default ${PACKAGE_ENV}",
    )
    group.addoption(
        "--dlstack-project",
        default=None,
        help=f"project directory holding dlstack.toml; default ${PROJECT_ENV} or '.'",
    )
    group.addoption(
        "--dlstack-split",
        default=None,
        help="data split to test on (default: [tests] split, 'test')",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_USED] = {"passed": 0, "failed": 0, "skipped": 0}


def _option(config: pytest.Config, name: str, env: str) -> str | None:
    value = config.getoption(name, default=None)
    return value if value is not None else os.environ.get(env)


def _project(config: pytest.Config) -> Any:
    from dlstack.config import load_project

    return load_project(_option(config, "--dlstack-project", PROJECT_ENV) or ".")


@pytest.fixture(scope="session")
def dlstack_package(pytestconfig: pytest.Config) -> Any:
    """The model package named by --dlstack-package (or $DLSTACK_PACKAGE)."""
    from dlstack.package import load_package

    path = _option(pytestconfig, "--dlstack-package", PACKAGE_ENV)
    if not path:
        pytest.skip(f"no model package: pass --dlstack-package PATH or set ${PACKAGE_ENV}")
    return load_package(path)


@pytest.fixture(scope="session")
def dlstack_data(pytestconfig: pytest.Config, dlstack_package: Any) -> Any:
    """The test split of the package's data version, with example metadata."""
    from dlstack.evaluate._eval_data import eval_data

    project = _project(pytestconfig)
    split = pytestconfig.getoption("--dlstack-split", default=None) or project.config.tests.split
    return eval_data(project, version=dlstack_package.spec.data_version or None, split=split)


@pytest.fixture(scope="session")
def dlstack_predict(dlstack_package: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``predict(images)``: uint8 images (n, H, W) -> label names (n,)."""
    from dlstack.inputs import to_model_input

    norm = dlstack_package.spec.input.norm
    labels = np.asarray(dlstack_package.labels, dtype=object)

    def predict(images: np.ndarray) -> np.ndarray:
        x = to_model_input(np.asarray(images), norm.mean, norm.std)
        return labels[dlstack_package.predict_arrays(x).argmax(axis=1)]

    return predict


@pytest.fixture(scope="session")
def dlstack_metrics(dlstack_package: Any, dlstack_data: Any) -> dict[str, float]:
    """Every metric of the package on ``dlstack_data``, by name (``recall[7]`` too)."""
    from dlstack.evaluate._package_eval import package_metrics

    values, _, _ = package_metrics(dlstack_package, dlstack_data)
    return values


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    uses = set(getattr(item, "fixturenames", ())) & set(_FIXTURES)
    if uses and (report.when == "call" or (report.when == "setup" and report.outcome != "passed")):
        counts = item.config.stash[_USED]
        counts[report.outcome] = counts.get(report.outcome, 0) + 1
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    counts = session.config.stash.get(_USED, {})
    if not counts.get("passed") and not counts.get("failed"):
        return  # no model test ran: nothing to record
    try:
        project = _project(session.config)
    except Exception:  # not inside a project: the tests still ran, there is nowhere to write
        return
    from dlstack.evaluate._records import PYTEST_PREFIX, PytestRecord
    from dlstack.records import write_record

    stamp = datetime.now(UTC)
    record = PytestRecord.model_validate(
        {
            "created": stamp.isoformat(timespec="seconds"),
            "package": _option(session.config, "--dlstack-package", PACKAGE_ENV),
            **counts,
        }
    )
    write_record(project.tests_dir / f"{PYTEST_PREFIX}{stamp:%Y%m%d-%H%M%S-%f}.json", record)
