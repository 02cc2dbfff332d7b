"""The bug zoo: small model + data cases, each with one planted bug from the doctor's
catalog (or none, for the healthy cases).

Every case builds fresh objects from a fixed seed, so the cases are deterministic and
independent. Data: scikit-learn's 8x8 digits (standardized with train statistics unless
the bug is in the preprocessing) and small synthetic sets. ``bench/doctor_zoo.py`` runs the
whole zoo and reports the detection and false-alarm rates; ``test_doctor_zoo.py`` asserts them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

BUDGET_S = 60.0  # a safety net: the cases end by their step caps, not by the clock


@dataclass(frozen=True)
class Case:
    name: str
    expect: tuple[str, ...]  # codes that must be found as error/warning; () = healthy
    build: Callable[[], dict[str, Any]]  # examine()'s arguments, model/train/val included
    slow: bool = False
    note: str = ""

    @property
    def healthy(self) -> bool:
        return not self.expect


CASES: list[Case] = []


def case(name: str, *expect: str, slow: bool = False, note: str = "") -> Callable[..., Any]:
    def register(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        CASES.append(Case(name, tuple(expect), fn, slow, note or (fn.__doc__ or "").strip()))
        return fn

    return register


# -- data --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(d.target))
    return (d.images[order] * (255 / 16)).astype(np.float32), d.target[order].astype(np.int64)


def digits(
    n_train: int = 600, n_val: int = 300, *, flat: bool = True, scale: bool = True, extra: int = 0
) -> tuple[Tensor, ...]:
    """(x_train, y_train, x_val, y_val[, x_extra, y_extra]) from 8x8 digits, 0..255 raw."""
    images, labels = _digits()
    x = torch.from_numpy(images[: n_train + n_val + extra])
    y = torch.from_numpy(labels[: n_train + n_val + extra])
    if scale:
        mean, std = x[:n_train].mean(), x[:n_train].std()
        x = (x - mean) / std
    x = x.reshape(len(x), -1) if flat else x[:, None]
    parts = [x[:n_train], y[:n_train], x[n_train : n_train + n_val], y[n_train : n_train + n_val]]
    if extra:
        parts += [x[n_train + n_val :], y[n_train + n_val :]]
    return tuple(parts)


def ds(x: Tensor, y: Tensor) -> TensorDataset:
    return TensorDataset(x, y)


def mlp(d_in: int = 64, hidden: int = 64, d_out: int = 10, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def base(**extra: Any) -> dict[str, Any]:
    xt, yt, xv, yv = digits()
    return {"model": mlp(), "train": ds(xt, yt), "val": ds(xv, yv), "budget_s": BUDGET_S, **extra}


class Lambda(nn.Module):
    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


# -- healthy -----------------------------------------------------------------------------


@case("healthy-mlp-digits8")
def _h_mlp() -> dict[str, Any]:
    """A two-layer MLP on standardized 8x8 digits, the doctor's default optimizer."""
    return base()


@case("healthy-lenet-digits8", slow=True)
def _h_lenet() -> dict[str, Any]:
    """dlstack's own LeNet (He init) on 8x8 digit images."""
    from dlstack.models import build_model

    xt, yt, xv, yv = digits(flat=False)
    torch.manual_seed(0)
    model, _ = build_model("lenet", (1, 8, 8), 10)
    return {
        "model": model,
        "train": ds(xt, yt),
        "val": ds(xv, yv),
        "budget_s": BUDGET_S,
        "lr": 1e-3,
    }


@case("healthy-bn-dropout-cnn")
def _h_bn() -> dict[str, Any]:
    """A CNN with batch norm and dropout modules used the right way."""
    xt, yt, xv, yv = digits(flat=False)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(256, 10),
    )
    return {
        "model": model,
        "train": ds(xt, yt),
        "val": ds(xv, yv),
        "budget_s": BUDGET_S,
        "lr": 1e-3,
    }


@case("healthy-logreg-loader")
def _h_loader() -> dict[str, Any]:
    """Logistic regression on 4 Gaussian blobs, given as shuffling DataLoaders."""
    g = torch.Generator().manual_seed(1)
    centers = torch.randn(4, 10, generator=g) * 2
    y = torch.randint(0, 4, (800,), generator=g)
    x = centers[y] + torch.randn(800, 10, generator=g)
    torch.manual_seed(0)
    return {
        "model": nn.Linear(10, 4),
        "train": DataLoader(ds(x[:600], y[:600]), batch_size=32, shuffle=True),
        "val": DataLoader(ds(x[600:], y[600:]), batch_size=100),
        "budget_s": BUDGET_S,
        "lr": 3e-3,
    }


@case("healthy-binary-bce", slow=True)
def _h_binary() -> dict[str, Any]:
    """Binary digits (odd vs even) with one logit and BCEWithLogitsLoss on float targets."""
    xt, yt, xv, yv = digits()
    model = nn.Sequential(mlp(d_out=1), nn.Flatten(0))
    return {
        "model": model,
        "train": ds(xt, (yt % 2).float()),
        "val": ds(xv, (yv % 2).float()),
        "loss_fn": nn.BCEWithLogitsLoss(),
        "budget_s": BUDGET_S,
        "lr": 1e-3,
    }


@case("healthy-regression-mse", slow=True)
def _h_regression() -> dict[str, Any]:
    """Regression with MSELoss, output and target both (N, 1)."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2000, 5, generator=g)
    y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2] ** 2 + 0.1 * torch.randn(2000, 1, generator=g)
    return {
        "model": mlp(5, 64, 1),
        "train": ds(x[:1500], y[:1500]),
        "val": ds(x[1500:], y[1500:]),
        "loss_fn": nn.MSELoss(),
        "budget_s": BUDGET_S,
        "lr": 3e-3,
    }


def _sequences(n: int, t: int = 12, symbols: int = 4, seed: int = 3) -> tuple[Tensor, Tensor]:
    """(N, T, symbols+1) one-hot frames; each label spans 2 frames with blanks between."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, t, symbols + 1)
    y = torch.zeros(n, 3, dtype=torch.long)
    for i in range(n):
        labels = torch.randint(1, symbols + 1, (3,), generator=g)
        frames = [0] * t
        for k, lab in enumerate(labels.tolist()):
            frames[1 + 4 * k] = frames[2 + 4 * k] = lab
        x[i, torch.arange(t), torch.tensor(frames)] = 1.0
        y[i] = labels
    return x + 0.1 * torch.randn(x.shape, generator=g), y


@case("healthy-ctc")
def _h_ctc() -> dict[str, Any]:
    """Per-frame classifier trained with CTC on short symbol sequences."""
    x, y = _sequences(500)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 5))  # (N, T, C)
    return {
        "model": model,
        "train": ds(x[:400], y[:400]),
        "val": ds(x[400:], y[400:]),
        "task": "ctc",
        "budget_s": BUDGET_S,
        "lr": 3e-3,
    }


@case("healthy-all-splits", slow=True)
def _h_splits() -> dict[str, Any]:
    """Train, val, test-val and test from one distribution, with a human-level error."""
    xt, yt, xv, yv, xe, ye = digits(600, 200, extra=400)
    return {
        "model": mlp(),
        "train": ds(xt, yt),
        "val": ds(xv, yv),
        "test": ds(xe[:200], ye[:200]),
        "test_val": ds(xe[200:], ye[200:]),
        "human_error": 0.01,
        "budget_s": BUDGET_S,
        "lr": 1e-3,
    }


def all_cases() -> list[Case]:
    """Healthy cases (this module), planted bugs (zoo_bugs) and more of both (zoo_more)."""
    import zoo_bugs  # noqa: F401  registering happens on import
    import zoo_more  # noqa: F401

    return list(CASES)
