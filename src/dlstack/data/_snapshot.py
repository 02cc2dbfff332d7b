"""A data version materialized as local arrays that training reads fast.

The practice's rule: at training time, copy the data that is needed onto the local
filesystem. A snapshot directory holds ``images.npy`` (uint8, N x H x W for grayscale,
N x H x W x 3 for RGB: every image already prepared by the input spec), ``labels.npy``
(int64 class index; zeros for a multilabel, regression or ctc task, whose ``targets.npy``
holds float32 0/1 per class or the numbers, or a line's int64 character codes, 0-padded:
``dlstack.targets.ctc_codes``), ``widths.npy`` (int32 true width of each line when the
input has a variable width: ``images`` are then padded on the right with the background
to the widest line), ``splits.npy`` (uint8: 0 train, 1 val, 2
test), ``ids.npy`` (the examples' sha256) and ``meta.json`` (with the input spec);
``Snapshot.load`` memory-maps them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlstack.data._splits import SPLITS, assign_splits, stratified_subset
from dlstack.errors import DataError
from dlstack.inputs import ImageSpec, TableSpec
from dlstack.records import atomic_dir, sha256_file, write_atomic

__all__ = ["Snapshot", "SnapshotDamaged", "SplitArrays"]

_FORMAT = 2  # 2: meta.json records every file's size and sha256


@dataclass(frozen=True)
class SplitArrays:
    images: np.ndarray  # uint8 (n, H, W) or (n, H, W, 3); (n, 0) for a table
    labels: np.ndarray  # int64 (n,)
    ids: np.ndarray  # str (n,)
    features: np.ndarray | None = None  # float64 (n, F): a table's raw values (NaN missing)
    # float32 (n, K): a multilabel's 0/1 per class or a regression's numbers; int64 (n, L)
    # a line's character codes (ctc). None: classification, where ``labels`` is the target.
    targets: np.ndarray | None = None
    widths: np.ndarray | None = None  # int32 (n,): each line's own width (variable width)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def y(self) -> np.ndarray:
        """What the task learns: ``targets`` when the task has them, else ``labels``."""
        return self.labels if self.targets is None else self.targets

    def rows(self, start: int, stop: int) -> SplitArrays:
        """Examples ``start:stop`` (a batch)."""
        return SplitArrays(
            self.images[start:stop],
            self.labels[start:stop],
            self.ids[start:stop],
            None if self.features is None else self.features[start:stop],
            None if self.targets is None else self.targets[start:stop],
            None if self.widths is None else self.widths[start:stop],
        )


@dataclass(frozen=True)
class Snapshot:
    """One data version as arrays: every example with its label and split."""

    version: str
    classes: tuple[str, ...]
    images: np.ndarray  # uint8 (N, H, W) or (N, H, W, 3)
    labels: np.ndarray  # int64 (N,), index into classes
    splits: np.ndarray  # uint8 (N,), index into SPLITS
    ids: np.ndarray  # str (N,), sha256 of each example's stored object
    # How the images were prepared; None: taken from the arrays (see image_spec).
    image: ImageSpec | None = None
    # A table: float64 (N, F) raw values (NaN: missing; categorical: index into the
    # column's categories) and its columns. ``images`` is then (N, 0).
    features: np.ndarray | None = None
    table: TableSpec | None = None
    # The task the targets are for (dlstack.targets.TASKS); multilabel and regression keep
    # float32 (N, K) ``targets`` (K = len(classes): the classes, or the target names); ctc
    # keeps int64 (N, L) character codes (``classes`` is then the alphabet).
    task: str = "classification"
    targets: np.ndarray | None = None
    # int32 (N,): each line's own width when the input's width is variable (``images``
    # padded on the right with the background to the widest); None: one fixed size.
    widths: np.ndarray | None = None

    @property
    def is_table(self) -> bool:
        """Table rows alone (no image per example)."""
        return self.table is not None and self.images.ndim < 3

    @property
    def has_several_inputs(self) -> bool:
        """An image and a table row per example: the model takes both (a dict)."""
        return self.table is not None and self.images.ndim >= 3

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example as stored, e.g. (28, 28) or (32, 32, 3)."""
        return tuple(self.images.shape[1:])

    @property
    def image_spec(self) -> ImageSpec:
        """The input spec the images were prepared with (from the arrays when unrecorded:
        their size and channels, strokes on a dark background like the built-ins)."""
        h, w = (int(d) for d in self.images.shape[1:3])
        channels = 3 if self.images.ndim == 4 else 1
        if self.image is not None and self.image.shape == (channels, h, w):
            return self.image
        lines = self.image is not None and self.image.variable_width and self.widths is not None
        if lines and self.image is not None and self.image.shape[:2] == (channels, h):
            return self.image  # lines: padded to the widest, each its own width
        # A data step may have changed the arrays' shape: keep the rest of the spec.
        resize, background = (
            ("fit", "dark") if self.image is None else (self.image.resize, self.image.background)
        )
        return ImageSpec(channels, (h, w), resize, background)  # type: ignore[arg-type]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> SplitArrays:
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; use one of {', '.join(SPLITS)}")
        mask = self.splits == SPLITS.index(name)
        return SplitArrays(
            np.asarray(self.images[mask]),
            np.asarray(self.labels[mask]),
            np.asarray(self.ids[mask]),
            None if self.features is None else np.asarray(self.features[mask]),
            None if self.targets is None else np.asarray(self.targets[mask]),
            None if self.widths is None else np.asarray(self.widths[mask]),
        )

    def select(self, keep: np.ndarray | slice, version: str | None = None) -> Snapshot:
        """The examples ``keep`` (indices or a mask) of every array, the specs unchanged."""
        return Snapshot(
            self.version if version is None else version,
            self.classes,
            np.asarray(self.images[keep]),
            np.asarray(self.labels[keep]),
            np.asarray(self.splits[keep]),
            np.asarray(self.ids[keep]),
            self.image,
            None if self.features is None else np.asarray(self.features[keep]),
            self.table,
            self.task,
            None if self.targets is None else np.asarray(self.targets[keep]),
            None if self.widths is None else np.asarray(self.widths[keep]),
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
        return self.select(keep)

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
        image: ImageSpec | None = None,
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
        return cls(version, tuple(classes), images, labels, splits, ids, image)

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
        """Write atomically (a half-written snapshot directory never exists under ``path``),
        with the size and sha256 of every array file in meta.json, so that a damaged
        snapshot is noticed when it is opened."""
        path = Path(path)
        arrays = {
            "images.npy": np.ascontiguousarray(self.images),
            "labels.npy": self.labels,
            "splits.npy": self.splits,
            "ids.npy": self.ids.astype("U64"),
        }
        if self.features is not None:
            arrays["features.npy"] = np.ascontiguousarray(self.features, dtype=np.float64)
        if self.targets is not None:
            dtype = np.int64 if self.task == "ctc" else np.float32
            arrays["targets.npy"] = np.ascontiguousarray(self.targets, dtype=dtype)
        if self.widths is not None:
            arrays["widths.npy"] = np.ascontiguousarray(self.widths, dtype=np.int32)
        with atomic_dir(path) as tmp:
            files = {}
            for name, array in arrays.items():
                np.save(tmp / name, array)
                file = tmp / name
                files[name] = {"size": file.stat().st_size, "sha256": sha256_file(file)}
            meta = {
                "format": _FORMAT,
                "version": self.version,
                "classes": list(self.classes),
                "image": None if self.is_table else self.image_spec.to_dict(),
                "table": self.table.to_dict() if self.table is not None else None,
                "task": self.task,
                "counts": self.counts(),
                "files": files,
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
            _stamp(tmp, files)
        return path

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        """Open a saved snapshot (images memory-mapped). Every file is checked against the
        sizes and hashes saved with it; a file's hash is computed again only when the file
        changed since it was last checked. A damaged snapshot raises SnapshotDamaged."""
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            raise DataError(
                f"{path} is not a snapshot (no meta.json); run `dlstack data "
                f"checkout VERSION` to materialize one"
            )
        try:
            meta = json.loads(meta_file.read_text())
            files = meta["files"]
            version, classes = str(meta["version"]), tuple(str(c) for c in meta["classes"])
            image = ImageSpec.from_dict(meta["image"]) if meta.get("image") else None
            table = TableSpec.from_dict(meta["table"]) if meta.get("table") else None
            task = str(meta.get("task") or "classification")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SnapshotDamaged(f"snapshot {path}: meta.json cannot be read ({e})") from None
        if meta.get("format") != _FORMAT:
            raise SnapshotDamaged(
                f"snapshot {path} has format {meta.get('format')}, this dlstack reads format "
                f"{_FORMAT}"
            )
        _verify(path, files)
        try:
            snap = cls(
                version,
                classes,
                np.load(path / "images.npy", mmap_mode="r", allow_pickle=False),
                np.load(path / "labels.npy", allow_pickle=False),
                np.load(path / "splits.npy", allow_pickle=False),
                np.load(path / "ids.npy", allow_pickle=False),
                image,
                None if table is None else np.load(path / "features.npy", allow_pickle=False),
                table,
                task,
                np.load(path / "targets.npy", allow_pickle=False)
                if "targets.npy" in files
                else None,
                np.load(path / "widths.npy", allow_pickle=False) if "widths.npy" in files else None,
            )
        except (OSError, ValueError) as e:
            raise SnapshotDamaged(f"snapshot {path}: an array cannot be read ({e})") from None
        n = len(snap.labels)
        if not (len(snap.images) == len(snap.splits) == len(snap.ids) == n) or any(
            a is not None and len(a) != n for a in (snap.features, snap.targets, snap.widths)
        ):
            raise SnapshotDamaged(f"snapshot {path}: its arrays disagree on the example count")
        return snap

    def fingerprint(self) -> str:
        """sha256 of the snapshot's content (arrays, classes, version): what a cached data
        step's output is keyed by."""
        h = hashlib.sha256(
            json.dumps(
                [
                    self.version,
                    list(self.classes),
                    *([self.table.to_dict()] if self.table is not None else []),
                    *([] if self.is_table else [self.image_spec.to_dict()]),
                ]
            ).encode()
        )
        arrays = [self.images, self.labels, self.splits, self.ids.astype("U64")]
        if self.features is not None:
            arrays.append(self.features)
        if self.targets is not None:
            arrays.append(self.targets)
        if self.widths is not None:
            arrays.append(self.widths)
        for array in arrays:
            h.update(f"{array.dtype.str}{array.shape}".encode())
            rows = max(1, (64 << 20) // max(1, array[:1].nbytes))  # ~64 MB at a time
            for start in range(0, len(array), rows):
                h.update(np.ascontiguousarray(array[start : start + rows]).tobytes())
        return h.hexdigest()


class SnapshotDamaged(DataError):
    """A snapshot's files do not match what was saved: rebuild it from the store."""


_STAMP = ".verified.json"  # files' (size, mtime, inode) when their hash last matched


def _fingerprint(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _stamp(folder: Path, files: dict[str, dict[str, object]]) -> None:
    stamps = {name: _fingerprint(folder / name) for name in files}
    with contextlib.suppress(OSError):  # read-only: checked in full each time instead
        write_atomic(folder / _STAMP, json.dumps(stamps))


def _verify(folder: Path, files: dict[str, dict[str, object]]) -> None:
    try:
        stamps = json.loads((folder / _STAMP).read_text())
    except (OSError, ValueError):
        stamps = {}
    changed = False
    for name, want in files.items():
        file = folder / name
        if not file.is_file():
            raise SnapshotDamaged(f"snapshot {folder}: {name} is missing")
        if file.stat().st_size != want.get("size"):
            raise SnapshotDamaged(
                f"snapshot {folder}: {name} has {file.stat().st_size:,} bytes, "
                f"{want.get('size'):,} were written"
            )
        if stamps.get(name) == _fingerprint(file):
            continue  # unchanged since its hash last matched
        if sha256_file(file) != want.get("sha256"):
            raise SnapshotDamaged(f"snapshot {folder}: {name} was changed since it was written")
        changed = True
    if changed:
        _stamp(folder, files)
