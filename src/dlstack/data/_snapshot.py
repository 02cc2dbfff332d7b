"""A data version materialized as local arrays that training reads fast.

The practice's rule: at training time, copy the data that is needed onto the local
filesystem. A snapshot directory holds ``images.npy`` (uint8, N x H x W), ``labels.npy``
(int64 class index), ``splits.npy`` (uint8: 0 train, 1 val, 2 test), ``ids.npy`` (the
examples' sha256) and ``meta.json``; ``Snapshot.load`` memory-maps them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlstack.data._splits import SPLITS, assign_splits, stratified_subset
from dlstack.errors import DataError
from dlstack.records import atomic_dir

__all__ = ["Snapshot", "SplitArrays"]

_FORMAT = 1


@dataclass(frozen=True)
class SplitArrays:
    images: np.ndarray  # uint8 (n, H, W)
    labels: np.ndarray  # int64 (n,)
    ids: np.ndarray  # str (n,)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Snapshot:
    """One data version as arrays: every example with its label and split."""

    version: str
    classes: tuple[str, ...]
    images: np.ndarray  # uint8 (N, H, W)
    labels: np.ndarray  # int64 (N,), index into classes
    splits: np.ndarray  # uint8 (N,), index into SPLITS
    ids: np.ndarray  # str (N,), sha256 of each example's stored object

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example as stored, e.g. (28, 28)."""
        return tuple(self.images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> SplitArrays:
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; use one of {', '.join(SPLITS)}")
        mask = self.splits == SPLITS.index(name)
        return SplitArrays(
            np.asarray(self.images[mask]), np.asarray(self.labels[mask]), np.asarray(self.ids[mask])
        )

    def counts(self) -> dict[str, int]:
        return {name: int((self.splits == i).sum()) for i, name in enumerate(SPLITS)}

    def with_train_subset(self, size: float | None, seed: int = 0) -> Snapshot:
        """Keep val and test whole, and a class-stratified subset of train (count or fraction)."""
        if size is None:
            return self
        train = np.flatnonzero(self.splits == 0)
        keep_train = train[stratified_subset(self.labels[train], size, seed)]
        keep = np.sort(np.concatenate([keep_train, np.flatnonzero(self.splits != 0)]))
        return Snapshot(
            f"{self.version}",
            self.classes,
            np.asarray(self.images[keep]),
            self.labels[keep],
            self.splits[keep],
            self.ids[keep],
        )

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        images: np.ndarray,
        labels: np.ndarray,
        classes: tuple[str, ...],
        *,
        version: str = "unversioned",
        split: tuple[float, float, float] = (0.8, 0.1, 0.1),
        seed: int = 0,
    ) -> Snapshot:
        """Build a snapshot from arrays without the catalog (tests, notebooks).

        Example ids are the sha256 of each image's bytes; splits are assigned the same way
        ingest assigns them.
        """
        import hashlib

        images = np.ascontiguousarray(images, dtype=np.uint8)
        labels = np.asarray(labels, dtype=np.int64)
        ids = np.array([hashlib.sha256(im.tobytes()).hexdigest() for im in images])
        names = assign_splits(list(ids), list(labels), split, seed)
        splits = np.array([SPLITS.index(s) for s in names], dtype=np.uint8)
        return cls(version, tuple(classes), images, labels, splits, ids)

    @classmethod
    def from_builtin(
        cls, name: str, *, split: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
    ) -> Snapshot:
        """A built-in dataset as a snapshot, bypassing the store (fast tests, benchmarks)."""
        from dlstack.data._builtin import load_builtin

        raw = load_builtin(name)
        return cls.from_arrays(
            raw.images,
            raw.labels,
            raw.classes,
            version=f"builtin:{name.removeprefix('builtin:')}",
            split=split,
            seed=seed,
        )

    # -- files ----------------------------------------------------------------------------

    def save(self, path: Path) -> Path:
        """Write atomically: a half-written snapshot directory never exists under ``path``."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            np.save(tmp / "images.npy", np.ascontiguousarray(self.images))
            np.save(tmp / "labels.npy", self.labels)
            np.save(tmp / "splits.npy", self.splits)
            np.save(tmp / "ids.npy", self.ids.astype("U64"))
            meta = {
                "format": _FORMAT,
                "version": self.version,
                "classes": list(self.classes),
                "counts": self.counts(),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            raise DataError(
                f"{path} is not a snapshot (no meta.json); run `dlstack data "
                f"checkout VERSION` to materialize one"
            )
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != _FORMAT:
            raise DataError(
                f"snapshot {path} has format {meta.get('format')}, this dlstack "
                f"reads format {_FORMAT}; check it out again"
            )
        load = lambda name: np.load(path / name, mmap_mode="r")  # noqa: E731
        return cls(
            meta["version"],
            tuple(meta["classes"]),
            load("images.npy"),
            np.load(path / "labels.npy"),
            np.load(path / "splits.npy"),
            np.load(path / "ids.npy"),
        )
