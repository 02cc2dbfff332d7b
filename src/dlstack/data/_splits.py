"""Deterministic, stratified train/val/test assignment.

Each example's split depends only on its content hash, its class and the seed, so
re-ingesting the same data (or adding new examples) never moves an existing example
between splits, and identical bytes can never land in two splits (no leakage).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["SPLITS", "assign_splits", "stratified_subset", "stream_split"]

SPLITS = ("train", "val", "test")


def _rank_key(example_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{example_id}".encode()).hexdigest()


def assign_splits(
    ids: Sequence[str],
    labels: Sequence[object],
    fractions: tuple[float, float, float],
    seed: int = 0,
) -> list[str]:
    """Split name for each example: per class, ordered by a seeded hash, cut by fractions."""
    out = [""] * len(ids)
    by_class: dict[object, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    cum = np.cumsum(fractions)
    for members in by_class.values():
        members.sort(key=lambda i: _rank_key(ids[i], seed))
        n = len(members)
        # Largest-remainder rounding keeps every split's share per class as exact as possible.
        bounds = [round(c * n) for c in cum]
        start = 0
        for split, end in zip(SPLITS, bounds, strict=True):
            for i in members[start:end]:
                out[i] = split
            start = end
        for i in members[start:]:
            out[i] = "train"
    return out


def stratified_subset(labels: np.ndarray, size: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified subset: ``size`` examples if > 1, else that fraction."""
    n = len(labels)
    target = round(size) if size > 1 else round(size * n)
    target = max(1, min(n, target))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    per_class = np.maximum(1, np.round(counts * target / n).astype(int))
    picked = []
    for c, k in zip(classes, per_class, strict=True):
        idx = np.flatnonzero(labels == c)
        picked.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(picked))


def stream_split(example_id: str, fractions: tuple[float, float, float], seed: int) -> str:
    """The split of one example from its own seeded hash.

    ``assign_splits`` cuts a *batch* by fractions, so a batch of one always lands in
    train; labels arrive here one at a time, so each example draws its split from a
    uniform number derived from (seed, id). Same fractions in expectation, and the split
    never changes when other examples arrive.
    """
    u = int(hashlib.sha256(f"{seed}:{example_id}".encode()).hexdigest()[:15], 16) / 16**15
    total = 0.0
    for split, fraction in zip(SPLITS, fractions, strict=True):
        total += fraction
        if u < total:
            return split
    return SPLITS[0]
