"""Fixtures for serve tests: one real package exported from a small torch model.

Tests may use torch to make the package and compute references; the code under test
(dlstack.serve) must not, which test_serve_import.py checks in a clean interpreter.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlstack.compress import export_package
from dlstack.config import Config
from dlstack.data import Snapshot
from dlstack.inputs import channel_stats
from dlstack.train._result import Normalization, TrainResult


@pytest.fixture(scope="session")
def digits8() -> Snapshot:
    return Snapshot.from_builtin("digits8")


@pytest.fixture(scope="session")
def result(digits8: Snapshot, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 10),
    ).eval()
    run_dir = tmp_path_factory.mktemp("run")
    return TrainResult(
        run_id="run-1",
        run_dir=run_dir,
        model=model,
        task="classification",
        architecture="tiny-cnn",
        normalization=Normalization(*channel_stats(digits8.split("train").images)),
        input_shape=(1, 8, 8),
        classes=digits8.classes,
        data_version=digits8.version,
        code_version="test",
        config=Config(),
        best_checkpoint=run_dir / "best.ckpt",
    )


@pytest.fixture(scope="session")
def exported(
    result: TrainResult, digits8: Snapshot, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """models/digits8/1, exported once per session; copy it before changing it."""
    from dlstack.inputs import to_model_input

    models = tmp_path_factory.mktemp("models")
    images = digits8.split("test").images[:5]
    sample = to_model_input(images, result.normalization.mean, result.normalization.std)
    return export_package(result, models, "digits8", sample=sample)


@pytest.fixture
def package_dir(exported: Path, tmp_path: Path) -> Path:
    """A private copy of the package: tests may damage it."""
    target = tmp_path / "models" / "digits8" / "1"
    shutil.copytree(exported, target)
    return target


@pytest.fixture
def torch_probabilities(result: TrainResult):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(result.model(torch.from_numpy(x)), dim=1).numpy()

    return run


# -- the prediction server ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def exported_v2(
    result: TrainResult, exported: Path, digits8: Snapshot, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Version 2 of digits8 beside version 1 (other weights), for load and rollback tests."""
    from dlstack.inputs import to_model_input

    models = tmp_path_factory.mktemp("models2")
    shutil.copytree(exported, models / "digits8" / "1")
    torch.manual_seed(1)
    other = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 10),
    ).eval()
    images = digits8.split("test").images[:5]
    sample = to_model_input(images, result.normalization.mean, result.normalization.std)
    return export_package(replace(result, model=other), models, "digits8", sample=sample)


@pytest.fixture(scope="session")
def test_inputs(digits8: Snapshot, result: TrainResult) -> np.ndarray:
    """64 real test digits as model input, float32 (64, 1, 8, 8)."""
    from dlstack.inputs import to_model_input

    images = digits8.split("test").images[:64]
    return to_model_input(images, result.normalization.mean, result.normalization.std)


@pytest.fixture(scope="session")
def digit_png(digits8: Snapshot) -> bytes:
    out = io.BytesIO()
    Image.fromarray(digits8.split("test").images[0]).save(out, format="PNG")
    return out.getvalue()
