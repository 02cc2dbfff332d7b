"""Fixtures for export tests: small models wrapped in a hand-built TrainResult."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from dlstack.config import Config
from dlstack.data import Snapshot
from dlstack.inputs import channel_stats, to_model_input
from dlstack.train._result import Normalization, TrainResult


class TinyCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.head = torch.nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 8, 8) -> (B, 10)
        return self.head(self.pool(torch.relu(self.conv(x))).flatten(1))


def tiny_mlp() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    )


@pytest.fixture(scope="session")
def builders() -> dict[str, Callable[[], torch.nn.Module]]:
    """Small architectures of both kinds the zoo has: convolutional and fully connected."""
    return {"cnn": TinyCNN, "mlp": tiny_mlp}


@pytest.fixture(scope="session")
def digits8() -> Snapshot:
    return Snapshot.from_builtin("digits8")


@pytest.fixture(scope="session")
def norm(digits8: Snapshot) -> Normalization:
    return Normalization(*channel_stats(digits8.split("train").images))


@pytest.fixture(scope="session")
def sample(digits8: Snapshot, norm: Normalization) -> np.ndarray:
    """Seven real test images as model input (an odd size, to catch a fixed batch axis)."""
    return to_model_input(digits8.split("test").images[:7], norm.mean, norm.std)


@pytest.fixture
def make_result(
    tmp_path: Path, digits8: Snapshot, norm: Normalization
) -> Callable[..., TrainResult]:
    def make(model: torch.nn.Module | None = None) -> TrainResult:
        torch.manual_seed(0)
        return TrainResult(
            run_id="run-1",
            run_dir=tmp_path / "runs" / "run-1",
            model=(model or TinyCNN()).eval(),
            task="classification",
            architecture="tiny",
            normalization=norm,
            input_shape=(1, 8, 8),
            classes=digits8.classes,
            data_version=digits8.version,
            code_version="test",
            config=Config(),
            best_checkpoint=tmp_path / "runs" / "run-1" / "best.ckpt",
            history=[],
        )

    return make


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / ".dlstack" / "models"
