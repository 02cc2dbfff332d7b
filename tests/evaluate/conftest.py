"""Fixtures for evaluate tests: the digits8 snapshot and a small model trained on it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from dlstack.data import Snapshot, channel_stats, to_model_input
from dlstack.train.result import Normalization


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
