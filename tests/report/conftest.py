"""Fixtures for report tests: a full mini lifecycle on digits8 with a hostile class name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from dlstack.compress import export_package
from dlstack.config import Config
from dlstack.data import Snapshot, load_builtin
from dlstack.evaluate import BaselineResult, Evaluation, baselines, evaluate
from dlstack.inputs import channel_stats, to_model_input
from dlstack.train._result import Normalization, TrainResult

EVIL = "<script>alert('x')</script>"


@dataclass
class Lifecycle:
    snapshot: Snapshot
    result: TrainResult
    evaluation: Evaluation
    baselines: list[BaselineResult]
    package: Path


def _result(
    model: torch.nn.Module,
    snap: Snapshot,
    norm: Normalization,
    run_dir: Path,
    history: list[dict[str, float]],
) -> TrainResult:
    return TrainResult(
        run_id="run-7",
        run_dir=run_dir,
        model=model,
        task="classification",
        architecture="mlp",
        normalization=norm,
        input_shape=(1, 8, 8),
        classes=snap.classes,
        data_version=snap.version,
        code_version="abc123",
        config=Config(),
        best_checkpoint=run_dir / "best.ckpt",
        history=history,
        train_seconds=1.5,
    )


@pytest.fixture(scope="session")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> Lifecycle:
    raw = load_builtin("digits8")
    classes = (EVIL, *raw.classes[1:])  # a label a user could type; must never run as HTML
    snap = Snapshot.from_arrays(raw.images, raw.labels, classes, version="v-2024-digits8")
    norm = Normalization(*channel_stats(snap.split("train").images))
    train = snap.split("train")
    x = torch.from_numpy(to_model_input(train.images, norm.mean, norm.std))
    y = torch.from_numpy(train.labels)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for epoch in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if epoch % 10 == 9:
            history.append(
                {
                    "epoch": epoch // 10,
                    "train_loss": loss.item(),
                    "train_acc": 0.5 + epoch / 200,
                    "val_loss": loss.item() * 1.1,
                    "val_acc": 0.45 + epoch / 200,
                }
            )
    model.eval()
    root = tmp_path_factory.mktemp("project")
    result = _result(model, snap, norm, root / "run", history)
    evaluation = evaluate(model, snap, norm)
    sample = to_model_input(snap.split("test").images[:4], norm.mean, norm.std)
    package = export_package(
        result, root / "models", "digits8", sample=sample, metrics=evaluation.metrics
    )
    return Lifecycle(snap, result, evaluation, baselines(snap), package)


@pytest.fixture(scope="session")
def evil_label() -> str:
    return EVIL


@pytest.fixture(scope="session")
def untrained(lifecycle: Lifecycle, tmp_path_factory: pytest.TempPathFactory):
    """A model that has learned nothing: it must not beat the logistic regression."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    snap, norm = lifecycle.snapshot, lifecycle.result.normalization
    result = _result(model, snap, norm, tmp_path_factory.mktemp("run"), [])
    return result, evaluate(model, snap, norm)
