"""Drift detection: the statistics against scipy, and `dlstack monitor` on a project."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from dlstack.config import Project
from dlstack.data import Snapshot
from dlstack.data._lake import Lake
from dlstack.package import load_package
from dlstack.serve._drift import (
    KS_MIN_EFFECT,
    MIN_SERVED,
    Sample,
    compare,
    ks_2samp,
    monitor,
    psi,
)
from dlstack.serve._predlog import PredictionLog


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_ks_matches_scipy(shift: float) -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 400), rng.normal(shift, 1, 300)
    d, p = ks_2samp(a, b)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(ref.statistic, abs=1e-12)  # the statistic is exact
    assert p == pytest.approx(ref.pvalue, abs=0.02)  # asymptotic p-values, two corrections


def test_psi_is_zero_for_equal_distributions_and_grows_with_shift() -> None:
    labels = ["a", "b", "c"]
    same = np.array(["a", "b", "c"] * 10)
    assert psi(same, same, labels) == pytest.approx(0, abs=1e-9)
    skewed = np.array(["a"] * 25 + ["b"] * 5)
    assert psi(same, skewed, labels) > 0.5


def _sample(images: np.ndarray, package) -> Sample:
    from dlstack.inputs import to_model_input
    from dlstack.serve._predlog import input_statistics

    norm = package.spec.input.normalization
    p = package.predict_arrays(to_model_input(images, norm.mean, norm.std))
    stats = input_statistics(images)
    labels = np.array([package.labels[i] for i in p.argmax(1)])
    return Sample(stats["input_mean"], stats["input_ink"], p.max(1), labels)


def test_compare_flags_inverted_inputs_and_not_held_out_ones(
    exported: Path, digits8: Snapshot
) -> None:
    from dlstack.serve._drift import reference_sample

    package = load_package(exported)
    reference = reference_sample(package, digits8)
    test_images = digits8.split("test").images
    same = compare(reference, _sample(test_images, package), package.labels)
    assert not any(c.drifted for c in same), same
    inverted = compare(reference, _sample(255 - test_images, package), package.labels)
    by_name = {c.name: c for c in inverted}
    assert by_name["input intensity"].drifted and by_name["ink share"].drifted
    assert by_name["input intensity"].value > KS_MIN_EFFECT


@pytest.fixture
def served_project(digits8_project: Project, exported: Path) -> Project:
    shutil.copytree(exported, digits8_project.models_dir / "digits8" / "1")
    return digits8_project


def _log(project: Project, images: np.ndarray) -> None:
    """What the server writes for these images (see dlstack.serve._predlog)."""
    package = load_package(project.models_dir / "digits8")
    from dlstack.inputs import to_model_input

    norm = package.spec.input.normalization
    log = PredictionLog(lake=Lake(project.lake_url))
    log.record(
        model="digits8",
        version=1,
        endpoint="predict",
        request_id=None,
        pixels=images,
        probabilities=package.predict_arrays(to_model_input(images, norm.mean, norm.std)),
        labels=package.labels,
    )
    log.flush()


def test_monitor_needs_enough_predictions(served_project: Project, digits8: Snapshot) -> None:
    _log(served_project, digits8.split("test").images[: MIN_SERVED - 1])
    report = monitor(served_project)
    assert not report.drifted and report.note and "at least 30" in report.note


def test_monitor_report_and_cli_exit_code(
    served_project: Project, digits8: Snapshot, tmp_path: Path
) -> None:
    from dlstack.cli._serve import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    _log(served_project, digits8.split("test").images)
    calm = runner.invoke(app, ["monitor", "--project", str(served_project.root), "--since", "1d"])
    assert calm.exit_code == 0, calm.output
    assert "input intensity" in calm.output
    report_path = served_project.state_dir / "monitor" / "digits8.html"
    assert "no drift" in report_path.read_text()

    # Now the world changes: the digits arrive inverted (dark on light).
    _log(served_project, 255 - digits8.split("test").images)
    _log(served_project, 255 - digits8.split("val").images)
    out = tmp_path / "drift.html"
    drift = runner.invoke(
        app, ["monitor", "--project", str(served_project.root), "--out", str(out)]
    )
    assert drift.exit_code == 1, drift.output  # a failed check, for schedulers to alert on
    assert "DRIFT" in drift.output
    html = out.read_text()
    assert "drift" in html and "data:image/png;base64," in html  # a table and plots


def test_monitor_since_is_validated(served_project: Project) -> None:
    from dlstack.cli._serve import register

    app = typer.Typer()
    register(app)
    r = CliRunner().invoke(app, ["monitor", "-p", str(served_project.root), "--since", "soon"])
    assert r.exit_code != 0
