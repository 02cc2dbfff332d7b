"""Evaluation tests against model packages: a good one passes, a broken one fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from eval_fixtures import WRITERS, ManifestProject, make_linear_package
from typer.testing import CliRunner

from dlstack.config import EvalTestsConfig
from dlstack.errors import CheckFailed, ConfigError, DataError, DlstackError
from dlstack.evaluate import EvalData, check_package, latest_results, run_eval_tests
from dlstack.package import load_package, previous_version

REQUIREMENTS = {
    "min_metrics": {"accuracy": 0.9, "recall[3]": 0.8},
    "max_metrics": {"calibration_error": 0.2},
    "max_latency_ms": 1000,  # generous: never a timing assertion on a shared machine
    "max_size_mb": 1,
    "slices": [
        {"by": "class", "min_metrics": {"recall": 0.7}, "min_examples": 5},
        {"by": "writer", "min_metrics": {"accuracy": 0.85}},
    ],
    "invariance": [{"transform": "thin", "amount": 1, "max_changed": 1.0}],
    "directional": [{"transform": "occlude", "amount": 0.6, "expect": "decrease"}],
}


def _data(mp: ManifestProject) -> EvalData:
    from dlstack.evaluate import eval_data

    return eval_data(mp.project, version=mp.snapshot.version)


def test_good_package_passes_every_declared_check(manifest_project: ManifestProject) -> None:
    cfg = EvalTestsConfig.model_validate(REQUIREMENTS)
    report = run_eval_tests(load_package(manifest_project.good), _data(manifest_project), cfg)
    assert report.passed, [(c.name, c.measured, c.detail) for c in report.failures]
    kinds = [c.kind for c in report.checks]
    # declared checks, then the ones that always run
    for kind in ("metric", "slice", "latency", "size", "invariance", "directional"):
        assert kind in kinds
    assert {"stability", "skew"} <= set(kinds)
    writer = next(c for c in report.checks if "writer" in c.name)
    assert "4 slices judged" in writer.detail  # ann, bob, cy, dee
    assert report.metrics["accuracy"] > 0.9 and "latency_p95_ms" in report.metrics


def test_deliberately_broken_package_fails_and_says_which_checks(
    manifest_project: ManifestProject,
) -> None:
    # v2's model.json lists the labels rotated by one: it loads and runs, every answer is wrong.
    cfg = EvalTestsConfig.model_validate(REQUIREMENTS)
    broken = load_package(manifest_project.broken)
    report = run_eval_tests(
        broken, _data(manifest_project), cfg, previous=load_package(manifest_project.good)
    )
    assert not report.passed
    failed = {c.name for c in report.failures}
    assert {"accuracy >= 0.9", "recall[3] >= 0.8", "every class slice: recall >= 0.7"} <= failed
    regression = next(c for c in report.checks if c.kind == "regression")
    assert not regression.passed and regression.measured is not None and regression.measured > 0.5
    # the checks that do not depend on the labels still hold
    assert all(c.passed for c in report.checks if c.kind in ("stability", "skew", "size"))


def test_dlstack_test_cli_exits_1_on_the_broken_package_and_0_on_the_good(
    manifest_project: ManifestProject, tmp_path: Path
) -> None:
    from dlstack.cli import _evaluate as cli

    mp = manifest_project
    toml = mp.project.root / "dlstack.toml"
    original = toml.read_text()
    toml.write_text(original + "\n[tests]\nmin_metrics = {accuracy = 0.9}\n")
    app = typer.Typer()
    cli.register(app)
    app.callback()(lambda: None)
    try:
        for package, code in ((mp.good, 0), (mp.broken, 1)):
            result = CliRunner().invoke(app, ["test", str(package), "-p", str(mp.project.root)])
            # main() turns CheckFailed into exit 1; the bare app lets it through.
            got = (
                result.exception.exit_code
                if isinstance(result.exception, DlstackError)
                else (result.exit_code)
            )
            assert got == code, result.output
            assert "accuracy >= 0.9" in result.output
        assert isinstance(result.exception, CheckFailed)
        assert "checks failed: accuracy >= 0.9" in str(result.exception)
    finally:
        toml.write_text(original)
    # results were saved where `dlstack score` reads them, newest first
    saved = latest_results(mp.project)
    assert saved[0].passed is False and saved[0].version == 2
    assert any(r.version == 1 and r.passed for r in saved)


def test_check_package_uses_the_previous_version_for_regressions(
    manifest_project: ManifestProject,
) -> None:
    assert previous_version(manifest_project.broken) == manifest_project.good
    assert previous_version(manifest_project.good) is None
    report = check_package(manifest_project.project, manifest_project.broken, write=False)
    assert {"regression", "latency_regression"} <= {c.kind for c in report.checks}
    assert report.path is None


def test_unknown_names_in_tests_config_are_config_errors(
    manifest_project: ManifestProject,
) -> None:
    package, data = load_package(manifest_project.good), _data(manifest_project)
    for raw, message in [
        ({"min_metrics": {"acuracy": 0.9}}, "'acuracy', which is not a metric here"),
        ({"slices": [{"by": "region", "min_metrics": {"accuracy": 0.9}}]}, "available: class"),
        ({"slices": [{"by": "class", "min_metrics": {"auroc": 0.9}}]}, "a slice has"),
    ]:
        with pytest.raises(ConfigError, match=message):
            run_eval_tests(package, data, EvalTestsConfig.model_validate(raw))


def test_staleness_and_skew_limits(manifest_project: ManifestProject, tmp_path: Path) -> None:
    m = manifest_project.model
    labels = list(manifest_project.snapshot.classes)
    old = load_package(
        make_linear_package(
            tmp_path / "old" / "1",
            m.weights,
            m.bias,
            labels,
            m.norm,
            created="2020-01-01T00:00:00Z",
        )
    )
    report = run_eval_tests(
        old, _data(manifest_project), EvalTestsConfig.model_validate({"max_age_days": 30})
    )
    stale = next(c for c in report.checks if c.kind == "staleness")
    assert not stale.passed and stale.measured is not None and stale.measured > 365


def test_labels_the_package_does_not_know_are_a_data_error(
    manifest_project: ManifestProject,
) -> None:
    data = _data(manifest_project)
    other = EvalData(data.images, data.labels, tuple(f"x{c}" for c in data.classes))
    with pytest.raises(DataError, match="lack the data's class"):
        run_eval_tests(load_package(manifest_project.good), other)


def test_report_json_round_trip(manifest_project: ManifestProject, tmp_path: Path) -> None:
    report = run_eval_tests(load_package(manifest_project.good), _data(manifest_project))
    path = report.write_json(tmp_path)
    record = json.loads(path.read_text())
    assert record["passed"] is True and record["name"] == "digits"
    assert [c["kind"] for c in record["checks"]] == ["stability", "skew"]
    assert np.isfinite(record["metrics"]["latency_p50_ms"])
    assert set(WRITERS)  # (the manifest project's writers, used by the slice test above)


def _with_recorded_metrics(package: Path, target: Path, metrics: dict[str, float]) -> Path:
    import shutil

    shutil.copytree(package, target)
    spec = json.loads((target / "model.json").read_text())
    spec["metrics"] = metrics
    (target / "model.json").write_text(json.dumps(spec))
    return target


def test_a_package_far_below_its_recorded_metrics_fails(
    manifest_project: ManifestProject, tmp_path: Path
) -> None:
    # The case of a package that answers wrongly but loads: model.json claims 0.95, the
    # labels are rotated, accuracy is near 0. Nothing declared in [tests] catches it.
    data = _data(manifest_project)
    claimed = {"accuracy": 0.95, "calibration_error": 0.01, "recall[3]": 1.0}
    broken = _with_recorded_metrics(manifest_project.broken, tmp_path / "broken", claimed)
    spec = json.loads((broken / "model.json").read_text())
    spec["data_version"] = data.data_version
    (broken / "model.json").write_text(json.dumps(spec))
    report = run_eval_tests(load_package(broken), data, EvalTestsConfig())
    check = next(c for c in report.checks if c.kind == "recorded_metrics")
    assert not check.passed and not report.passed
    assert "accuracy" in check.detail and "recorded 0.9500" in check.detail
    assert "recall[3]" not in check.detail  # per-class values are too noisy to hold it to

    # The good package, recording what it measures, passes; on other data it is not judged.
    measured = run_eval_tests(load_package(manifest_project.good), data).metrics
    good = _with_recorded_metrics(
        manifest_project.good, tmp_path / "good", {"accuracy": measured["accuracy"]}
    )
    spec = json.loads((good / "model.json").read_text())
    spec["data_version"] = data.data_version
    (good / "model.json").write_text(json.dumps(spec))
    check = next(
        c for c in run_eval_tests(load_package(good), data).checks if c.kind == "recorded_metrics"
    )
    assert check.passed, check.detail
    spec["data_version"] = "0" * 64
    (good / "model.json").write_text(json.dumps(spec))
    kinds = {c.kind for c in run_eval_tests(load_package(good), data).checks}
    assert "recorded_metrics" not in kinds
