"""Small, label-preserving (or label-destroying) changes to images, for behavioural tests.

An invariance test applies a change that should not change the answer (a 1-pixel shift,
a thicker pen); a directional test one that should move it a known way (covering most of
the digit lowers the model's confidence in it). Images are uint8 ``(n, H, W)`` as stored;
``background`` says whether strokes are light on dark (the digits) or dark on light.

>>> import numpy as np
>>> image = np.zeros((1, 5, 5), np.uint8); image[0, 2, 2] = 255
>>> int(perturb(image, "thicken", 1).astype(bool).sum())
4
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from dlstack.errors import ConfigError, DataError

__all__ = ["TRANSFORMS", "describe_transform", "perturb"]

TRANSFORMS = {
    "shift": "shift by AMOUNT pixels in a random direction",
    "thicken": "thicker strokes (grey dilation, (1+AMOUNT) px square)",
    "thin": "thinner strokes (grey erosion, (1+AMOUNT) px square)",
    "noise": "Gaussian pixel noise, std AMOUNT of the full range",
    "blur": "Gaussian blur, sigma AMOUNT pixels",
    "rotate": "rotation by AMOUNT degrees, random sign",
    "brightness": "stroke intensity times AMOUNT",
    "occlude": "a centred square of AMOUNT of the image area set to background",
}

Background = Literal["dark", "light", "any"]  # "any" (photos): filled like "dark"


def describe_transform(transform: str, amount: float) -> str:
    """``shift by 1 pixels in a random direction``: the transform in words."""
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {transform!r}; known: {', '.join(TRANSFORMS)}")
    return TRANSFORMS[transform].replace("AMOUNT", f"{amount:g}")


def perturb(
    images: np.ndarray,
    transform: str,
    amount: float,
    *,
    background: Background = "dark",
    seed: int = 0,
) -> np.ndarray:
    """Apply ``transform`` of size ``amount`` to every image; uint8 in, uint8 out."""
    from scipy import ndimage

    x = np.asarray(images)
    if x.ndim == 4 and x.shape[-1] == 3 and x.dtype == np.uint8:
        # RGB: each channel with the same seed, so every image gets the same shift, angle
        # and noise in all three channels.
        return np.stack(
            [
                perturb(x[..., c], transform, amount, background=background, seed=seed)
                for c in range(3)
            ],
            axis=-1,
        )
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataError(
            f"perturb takes uint8 images (n, H, W) or (n, H, W, 3), got {x.dtype} {x.shape}"
        )
    describe_transform(transform, amount)  # validates the name
    if amount <= 0:
        raise ConfigError(f"the amount of {transform!r} must be > 0, got {amount}")
    rng = np.random.default_rng(seed)
    light = background == "light"
    # Work on "ink" (stroke = high) so every transform is written once.
    ink = (255 - x) if light else x.copy()
    if transform == "shift":
        out = np.stack([_shift(im, round(amount), rng) for im in ink])
    elif transform in ("thicken", "thin"):
        size = (1 + round(amount),) * 2
        op = ndimage.grey_dilation if transform == "thicken" else ndimage.grey_erosion
        out = np.stack([op(im, size=size) for im in ink])
    elif transform == "noise":
        noisy = ink.astype(np.float64) + rng.normal(0, amount * 255, ink.shape)
        out = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    elif transform == "blur":
        out = np.stack(
            [
                np.clip(np.rint(ndimage.gaussian_filter(im.astype(float), amount)), 0, 255)
                for im in ink
            ]
        ).astype(np.uint8)
    elif transform == "rotate":
        angles = amount * rng.choice([-1.0, 1.0], size=len(ink))
        out = np.stack(
            [
                np.clip(
                    np.rint(ndimage.rotate(im.astype(float), a, reshape=False, order=1)), 0, 255
                )
                for im, a in zip(ink, angles, strict=True)
            ]
        ).astype(np.uint8)
    elif transform == "brightness":
        out = np.clip(np.rint(ink.astype(np.float64) * amount), 0, 255).astype(np.uint8)
    else:  # occlude
        out = ink.copy()
        h, w = ink.shape[1:]
        side_h = round(h * min(amount, 1.0) ** 0.5)
        side_w = round(w * min(amount, 1.0) ** 0.5)
        top, left = (h - side_h) // 2, (w - side_w) // 2
        out[:, top : top + side_h, left : left + side_w] = 0
    out = out.astype(np.uint8)
    return (255 - out) if light else out


def _shift(image: np.ndarray, pixels: int, rng: np.random.Generator) -> np.ndarray:
    """Move the image by ``pixels`` in one of 8 directions; vacated pixels are background."""
    directions = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    dy, dx = directions[int(rng.integers(len(directions)))]
    dy, dx = dy * pixels, dx * pixels
    out = np.zeros_like(image)
    h, w = image.shape
    src = image[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out
