"""Small models and data for the doctor's unit tests (the bug zoo is in tests/doctor_zoo)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny models gain nothing from intra-op threads, and on a busy 2-core machine their
    # spin-waits slow every step many times over. Restored after each module.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def blobs() -> tuple[TensorDataset, TensorDataset]:
    """Three well-separated Gaussian classes in 8 standardized dimensions."""
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 8, generator=g) * 3
    y = torch.randint(0, 3, (400,), generator=g)
    x = centers[y] + torch.randn(400, 8, generator=g)
    x = (x - x[:300].mean(0)) / x[:300].std(0)
    return TensorDataset(x[:300], y[:300]), TensorDataset(x[300:], y[300:])


@pytest.fixture
def small_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
