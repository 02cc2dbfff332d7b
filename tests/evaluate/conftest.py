"""Fixtures for evaluate tests: the digits8 snapshot, a small model trained on it, model
packages and projects made without training (fast), and one project that went through
every stage for real (``scored``, for the ML Test Score)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from eval_fixtures import (
    ManifestProject,
    ScoredProject,
    fit_linear,
    git_commit,
    make_linear_package,
    serve_with_feedback,
    write_manifest,
)

from dlstack.data import Snapshot
from dlstack.inputs import channel_stats, to_model_input
from dlstack.records import write_record
from dlstack.train._result import Normalization
from dlstack.tune import RESULT_FILE, TuneResult


@pytest.fixture(scope="session")
def digits8() -> Snapshot:
    return Snapshot.from_builtin("digits8")


@pytest.fixture(scope="session")
def digits8_norm(digits8: Snapshot) -> Normalization:
    mean, std = channel_stats(digits8.split("train").images)
    return Normalization(mean, std)


@pytest.fixture(scope="session")
def trained_mlp(digits8: Snapshot, digits8_norm: Normalization) -> torch.nn.Module:
    """An MLP fit full-batch on digits8 train for a second: good enough to beat baselines."""
    torch.manual_seed(0)
    train = digits8.split("train")
    x = torch.from_numpy(to_model_input(train.images, digits8_norm.mean, digits8_norm.std))
    y = torch.from_numpy(train.labels)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def logits_of() -> Callable[[torch.nn.Module, np.ndarray, Normalization], np.ndarray]:
    """The model's logits on uint8 images, computed directly (the reference for evaluate)."""

    def run(model: torch.nn.Module, images: np.ndarray, norm: Normalization) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(to_model_input(images, norm.mean, norm.std))).numpy()

    return run


# -- packages and projects without training (helpers in eval_fixtures.py) -----------


@pytest.fixture(scope="session")
def manifest_project(tmp_path_factory: pytest.TempPathFactory) -> ManifestProject:
    from dlstack.config import init_project, load_project
    from dlstack.data import DataRepo

    root = tmp_path_factory.mktemp("manifest") / "proj"
    manifest = write_manifest(root.parent / "images")
    init_project(root, "builtin:digits8", max_epochs=1)
    toml = root / "dlstack.toml"
    toml.write_text(toml.read_text().replace('"builtin:digits8"', f'"{manifest}"'))
    project = load_project(root)
    repo = DataRepo.open(project)
    try:
        repo.ingest(str(manifest), progress=False)
        version = repo.commit("digits8 with writers")
        assert version is not None
        _, snapshot = repo.checkout(version.id, progress=False)
    finally:
        repo.close()
    model = fit_linear(snapshot)
    name_dir = project.models_dir / "digits"
    labels = list(snapshot.classes)
    good = make_linear_package(
        name_dir / "1",
        model.weights,
        model.bias,
        labels,
        model.norm,
        data_version=snapshot.version,
    )
    # Deliberately broken: the labels are rotated, as if model.json were written for
    # another model. It loads and runs; only testing its answers shows the damage.
    broken = make_linear_package(
        name_dir / "2",
        model.weights,
        model.bias,
        labels[1:] + labels[:1],
        model.norm,
        version=2,
        data_version=snapshot.version,
    )
    return ManifestProject(project, snapshot, good, broken, model)


# -- a project with every stage's real evidence, for the ML Test Score -------------------

SCORED_TESTS = """
[tests]
max_age_days = 30
[[tests.slices]]
by = "class"
min_metrics = { recall = 0.5 }
[[tests.slices]]
by = "writer"
min_metrics = { accuracy = 0.99 }
"""


@pytest.fixture(scope="session")
def scored(tmp_path_factory: pytest.TempPathFactory) -> ScoredProject:
    """`dlstack run` on digits8 (from a manifest with a writer column and 3 files that are
    no image), in a git repository, then a second identical training run and a second
    package version tested against the first: every automated check of the score has run.
    Then v1 serves 40 test digits; people flag 34 of them with their true label, and a
    labeler decides 4 of those in the labeling queue.

    One epoch keeps it fast (~20 s) and leaves the model below the logistic regression,
    so the simpler-model line has a failure to report."""
    from dlstack import lifecycle
    from dlstack.config import init_project, load_project
    from dlstack.train import fit

    base = tmp_path_factory.mktemp("scored")
    manifest = write_manifest(base / "images", broken=3)
    root = base / "proj"
    init_project(root, "builtin:digits8", max_epochs=1)
    toml = root / "dlstack.toml"
    toml.write_text(toml.read_text().replace('"builtin:digits8"', f'"{manifest}"') + SCORED_TESTS)
    git_commit(root, "the project")
    project = load_project(root)
    out = lifecycle.run(project, progress=False, doctor_budget_s=10)
    again = fit(project, out.snapshot, progress=False)  # same commit, config and data
    second = lifecycle.export_run(project, out.result, out.snapshot, out.evaluation)
    tests = lifecycle.check_run(project, second)  # regression checks against v1
    # A study's record as `dlstack tune` writes it (tests/tune runs real studies; 24 trials
    # here would take minutes).
    write_record(project.tune_dir / "study-1" / RESULT_FILE, _study_record(24))
    # v1 failed its release gate (one epoch); it serves anyway, as with --allow-failed.
    traffic = serve_with_feedback(project, out.package, out.snapshot, n=40, flagged=34, decided=4)
    return ScoredProject(project, out, again, second, tests, traffic)


def _study_record(trials: int) -> TuneResult:
    return TuneResult(
        study="study-1",
        storage="sqlite:///optuna.db",
        strategy="coarse-to-fine",
        direction="maximize",
        monitor="val_acc",
        objective="accuracy",
        data_version="v",
        space={"train.lr": "log-uniform 1e-05 0.01"},
        trials=trials,
        target_trials=trials,
    )
