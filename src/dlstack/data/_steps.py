"""Built-in data steps: Snapshot in, Snapshot out, deterministic given ``seed``.

Only the train split is resampled or augmented: validation and test must keep measuring
the real distribution.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from dlstack.data._snapshot import Snapshot
from dlstack.data._splits import SPLITS, assign_splits
from dlstack.errors import ConfigError

__all__ = ["BUILTIN_STEPS", "augment", "resample", "resize", "resplit"]


def _derived_ids(ids: np.ndarray, tag: str) -> np.ndarray:
    return np.array([hashlib.sha256(f"{i}:{tag}".encode()).hexdigest() for i in ids])


def _with(
    snap: Snapshot, keep: np.ndarray, extra: tuple[np.ndarray, ...] | None = None, tag: str = ""
) -> Snapshot:
    out = snap.select(keep, version=f"{snap.version}+{tag}" if tag else snap.version)
    if extra is None:
        return out
    if snap.is_table:
        raise ConfigError(f"step {tag!r} makes new images; a table's data has none")
    if snap.has_several_inputs:
        raise ConfigError(
            f"step {tag!r} makes new images without table rows; this data has an image and "
            f"a table row per example. Remove the step from [[data.steps]]"
        )
    if snap.targets is not None:
        raise ConfigError(
            f"step {tag!r} copies examples with their class; a {snap.task} task's targets "
            f"are not classes. Remove the step from [[data.steps]]"
        )
    return replace(
        out,
        images=np.ascontiguousarray(np.concatenate([out.images, extra[0]])),
        labels=np.concatenate([out.labels, extra[1]]),
        splits=np.concatenate([out.splits, extra[2]]),
        ids=np.concatenate([out.ids, extra[3]]),
    )


def resample(snap: Snapshot, *, seed: int = 0, strategy: str = "oversample") -> Snapshot:
    """Balance the train split's classes by repeating (oversample) or dropping (undersample)."""
    if strategy not in ("oversample", "undersample"):
        raise ConfigError(
            f"resample strategy must be 'oversample' or 'undersample', got {strategy!r}"
        )
    if snap.targets is not None:
        raise ConfigError(
            f"resample balances classes; a {snap.task} task's targets are not one class per "
            f"example. Remove the step from [[data.steps]]"
        )
    rng = np.random.default_rng(seed)
    train = np.flatnonzero(snap.splits == 0)
    rest = np.flatnonzero(snap.splits != 0)
    counts = np.bincount(snap.labels[train], minlength=snap.num_classes)
    present = [c for c in range(snap.num_classes) if counts[c]]
    target = max(counts[present]) if strategy == "oversample" else min(counts[present])
    picked = []
    for c in present:
        members = train[snap.labels[train] == c]
        picked.append(rng.choice(members, size=target, replace=len(members) < target))
    keep = np.sort(np.concatenate([*picked, rest]))
    out = _with(snap, keep, tag=f"resample-{strategy}")
    # Repeated examples need distinct ids (an id names one row of the snapshot).
    seen: dict[str, int] = {}
    ids = []
    for i in out.ids:
        n = seen.get(i, 0)
        seen[i] = n + 1
        ids.append(i if n == 0 else hashlib.sha256(f"{i}:copy{n}".encode()).hexdigest())
    return replace(out, ids=np.array(ids))


def augment(
    snap: Snapshot, *, seed: int = 0, copies: int = 1, max_shift: int = 2, thicken: bool = True
) -> Snapshot:
    """Add ``copies`` shifted (and randomly thickened/thinned) versions of each train image."""
    if copies < 1 or max_shift < 0:
        raise ConfigError(
            f"augment needs copies >= 1 and max_shift >= 0, got copies={copies}, "
            f"max_shift={max_shift}"
        )
    rng = np.random.default_rng(seed)
    train = np.flatnonzero(snap.splits == 0)
    new_images = []
    for _ in range(copies):
        batch = np.array(snap.images[train])
        for k in range(len(batch)):
            dy, dx = rng.integers(-max_shift, max_shift + 1, size=2)
            img = np.roll(batch[k], (dy, dx), axis=(0, 1))
            if thicken and rng.random() < 0.5:
                img = _dilate(img) if rng.random() < 0.5 else _erode(img)
            batch[k] = img
        new_images.append(batch)
    images = np.concatenate(new_images)
    labels = np.tile(snap.labels[train], copies)
    ids = np.concatenate(
        [_derived_ids(snap.ids[train], f"augment{c}:{seed}") for c in range(copies)]
    )
    splits = np.zeros(len(labels), dtype=np.uint8)
    return _with(
        snap, np.arange(len(snap.labels)), (images, labels, splits, ids), tag=f"augment{copies}"
    )


def _dilate(img: np.ndarray) -> np.ndarray:
    out = img.copy()
    for axis in (0, 1):
        for shift in (-1, 1):
            out = np.maximum(out, np.roll(img, shift, axis=axis))
    return out


def _erode(img: np.ndarray) -> np.ndarray:
    out = img.copy()
    for axis in (0, 1):
        for shift in (-1, 1):
            out = np.minimum(out, np.roll(img, shift, axis=axis))
    return out


def resplit(
    snap: Snapshot, *, seed: int = 0, split: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> Snapshot:
    """Assign new train/val/test splits (stratified, seeded) to every example."""
    names = assign_splits(list(snap.ids), list(snap.labels), tuple(split), seed)  # type: ignore[arg-type]
    splits = np.array([SPLITS.index(n) for n in names], dtype=np.uint8)
    return replace(snap.select(slice(None), version=f"{snap.version}+resplit"), splits=splits)


def resize(snap: Snapshot, *, seed: int = 0, size: int = 14) -> Snapshot:
    """Derive lower-resolution images (area averaging), e.g. for a fast baseline."""
    from PIL import Image

    if size < 2:
        raise ConfigError(f"resize size must be >= 2, got {size}")
    if snap.is_table:
        raise ConfigError("the resize step resizes images; a table's data has none")
    images = np.stack(
        [
            np.asarray(Image.fromarray(np.asarray(im)).resize((size, size), Image.Resampling.BOX))
            for im in snap.images
        ]
    )
    # image_spec follows the new size; the resize policy and background stay.
    return replace(snap.select(slice(None), version=f"{snap.version}+resize{size}"), images=images)


BUILTIN_STEPS: dict[str, Callable[..., Snapshot]] = {
    "resample": resample,
    "augment": augment,
    "resplit": resplit,
    "resize": resize,
}
