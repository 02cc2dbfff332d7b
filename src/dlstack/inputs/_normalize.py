"""Pixels <-> model input. numpy only: training and torch-free serving share it.

Model input is float32 (N, C, H, W): pixels scaled to 0..1, then standardized with the
mean/std measured on the train split only (saved with the model, in model.json).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["channel_stats", "to_model_input", "to_pixels"]


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images (N, H, W) or (N, H, W, C), on the 0..1 scale."""
    x = np.asarray(images, dtype=np.float64) / 255.0
    if x.ndim == 3:
        x = x[..., None]
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    std = x.std(axis=axes)
    std = np.where(std < 1e-8, 1.0, std)  # a constant channel: leave it centered, not divided
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def to_model_input(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (N, H, W[, C]) -> standardized float32 (N, C, H, W)."""
    x = np.asarray(images, dtype=np.float32) / np.float32(255.0)
    x = x[:, None, :, :] if x.ndim == 3 else np.transpose(x, (0, 3, 1, 2))
    m = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((x - m) / s)


def to_pixels(x: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Standardized float32 (N, C, H, W) -> uint8 (N, H, W) or (N, H, W, C): the inverse of
    :func:`to_model_input` (the prediction log stores what the model saw as images)."""
    m = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    pixels = np.clip(np.rint((x * s + m) * 255.0), 0, 255).astype(np.uint8)
    return pixels[:, 0] if pixels.shape[1] == 1 else np.transpose(pixels, (0, 2, 3, 1))
