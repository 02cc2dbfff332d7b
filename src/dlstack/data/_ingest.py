"""Bring examples from a source into the store and the catalog's working set.

Sources: ``builtin:NAME``; a folder in class-subfolder layout (``root/<label>/<file>``);
a CSV or JSONL manifest with ``path`` and optional ``label``, ``split`` and any other
columns, which are kept as the example's metadata (source, writer, device...) for slices.
An example without a label is stored and queued for labeling instead of staged.
Each example is checked on its own; a bad one is rejected with its reason and the rest go
in. The catalog rows of one ingest are written in one transaction: never a half-ingested
batch. Objects are written first; an interrupted ingest can leave unreferenced objects,
which are harmless (content-addressed) and invisible to every version.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack._progress import track
from dlstack.data._catalog import Catalog, examples, staged
from dlstack.data._image_spec import IMAGE_META, LEGACY_SIZE_META, inferred_spec
from dlstack.data._splits import SPLITS, assign_splits
from dlstack.data._store import ObjectStore, sha256
from dlstack.errors import DataError
from dlstack.inputs import IMAGE_SUFFIXES, ImageInfo, infer_image_spec, inspect_image

if TYPE_CHECKING:
    from dlstack.config import ImageConfig

__all__ = ["IngestReport", "ingest"]

MANIFEST_SUFFIXES = (".csv", ".jsonl")
STORE_CHUNK = 500  # objects per concurrent batch to a remote store


@dataclass
class IngestReport:
    source: str
    seen: int = 0
    added: int = 0  # new examples, or examples whose label changed
    unchanged: int = 0  # already in the working set with the same label
    duplicates: int = 0  # the same bytes more than once in this source
    queued: int = 0  # unlabeled examples added to the labeling queue
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)
    inferred: list[str] = field(default_factory=list)  # how the image input was inferred
    to_grayscale: int = 0  # color images that a declared channels = 1 turns gray

    @property
    def changed(self) -> bool:
        return self.added > 0


@dataclass(frozen=True)
class _Item:
    name: str  # shown in messages
    data: bytes
    label: str | None  # None: unlabeled, goes to the labeling queue
    source: str
    split: str | None = None  # a split the source asks for; else assigned by seeded hash
    meta: dict[str, Any] = field(default_factory=dict)


def ingest(
    catalog: Catalog,
    store: ObjectStore,
    source: str,
    *,
    split: tuple[float, float, float],
    seed: int = 0,
    progress: bool = True,
    image: ImageConfig | None = None,
) -> IngestReport:
    """Add the examples of ``source`` to the working set (``staged``) of the catalog.

    Images of any size are stored as they are (checkout brings them to the input spec).
    At the first ingest the spec is inferred from the accepted images and kept in the
    catalog (``report.inferred`` says how); a color image is refused when the input is
    declared (or was inferred) grayscale: nothing is converted silently.
    """
    items, classes = _read_source(source, progress)
    if not items:
        raise DataError(
            f"source {source!r} holds no examples; a folder source needs "
            f"class subfolders with images ({', '.join(IMAGE_SUFFIXES)})"
        )
    report = IngestReport(source=source)
    with catalog.begin() as conn:
        declared = catalog.get_meta(conn, "classes")
        known = inferred_spec(
            {m: catalog.get_meta(conn, m) for m in (IMAGE_META, LEGACY_SIZE_META)}
        )
    classes = list(declared or classes)
    declared_channels = image.channels if image is not None else None
    inferred_channels = known.channels if known is not None else None

    accepted: dict[str, _Item] = {}
    shapes: dict[str, ImageInfo] = {}
    for item in track(items, "checking", total=len(items), enabled=progress):
        report.seen += 1
        if item.label is not None and item.label not in classes:
            report.rejected.append(
                (item.name, f"label {item.label!r} is not a declared class ({', '.join(classes)})")
            )
            continue
        try:
            info = inspect_image(item.data)
        except DataError as e:
            report.rejected.append((item.name, str(e)))
            continue
        if info.color and declared_channels == 1:
            report.to_grayscale += 1  # declared: checkout converts it, and says so here
        elif info.color and declared_channels is None and inferred_channels == 1:
            report.rejected.append(
                (
                    item.name,
                    f"image holds color ({info.mode}) but this dataset's images are "
                    f"grayscale (inferred at its first ingest); declare [data.image] "
                    f"channels = 3 to train in color, or channels = 1 to convert it",
                )
            )
            continue
        if item.split is not None and item.split not in SPLITS:
            report.rejected.append(
                (item.name, f"split {item.split!r} is not one of {', '.join(SPLITS)}")
            )
            continue
        key = sha256(item.data)
        if key in accepted:
            report.duplicates += 1
            continue
        accepted[key] = item
        shapes[key] = info
    keys = list(accepted)
    for start in track(
        range(0, len(keys), STORE_CHUNK),
        "storing objects",
        total=-(-len(keys) // STORE_CHUNK),
        enabled=progress and len(keys) > 0,
    ):
        store.put_many([accepted[k].data for k in keys[start : start + STORE_CHUNK]])

    if not accepted:
        return report

    now = datetime.now(UTC)
    with catalog.begin() as conn:
        stored = {r.id for r in conn.execute(examples.select().with_only_columns(examples.c.id))}
        current = {r.example_id: (r.label, r.split) for r in conn.execute(staged.select())}
        new_ids = [
            k
            for k in accepted
            if k not in current and accepted[k].label is not None and accepted[k].split is None
        ]
        new_splits = assign_splits(new_ids, [accepted[k].label for k in new_ids], split, seed)
        split_of = dict(zip(new_ids, new_splits, strict=True))
        example_rows: list[dict[str, Any]] = []
        staged_rows: list[dict[str, Any]] = []
        unlabeled: list[str] = []
        for key, item in accepted.items():
            if key not in stored:
                info = shapes[key]
                example_rows.append(
                    {
                        "id": key,
                        "width": info.width,
                        "height": info.height,
                        "mode": info.mode,
                        "source": item.source,
                        "meta": {"name": item.name, **item.meta},
                        "created_at": now,
                    }
                )
            if item.label is None:
                unlabeled.append(key)
                continue
            if key in current:
                old_label, old_split = current[key]
                new_split = item.split or old_split
                if (old_label, old_split) == (item.label, new_split):
                    report.unchanged += 1
                    continue
                conn.execute(staged.delete().where(staged.c.example_id == key))
                staged_rows.append({"example_id": key, "label": item.label, "split": new_split})
            else:
                staged_rows.append(
                    {"example_id": key, "label": item.label, "split": item.split or split_of[key]}
                )
            report.added += 1
        if example_rows:
            conn.execute(examples.insert(), example_rows)
        if staged_rows:
            conn.execute(staged.insert(), staged_rows)
        if unlabeled:
            from dlstack.data.labeling import enqueue

            fresh = [k for k in unlabeled if k not in current]
            report.queued = enqueue(catalog, fresh, source="ingest", conn=conn)
            report.unchanged += len(unlabeled) - report.queued
        catalog.set_meta(conn, "classes", classes)
        if known is None:
            spec, report.inferred = infer_image_spec(shapes.values())
            catalog.set_meta(conn, IMAGE_META, spec.to_dict())
    return report


def _read_source(source: str, progress: bool) -> tuple[list[_Item], list[str]]:
    if source.startswith("builtin:"):
        return _read_builtin(source, progress)
    root = Path(source).expanduser()
    if root.is_file() and root.suffix.lower() in MANIFEST_SUFFIXES:
        items = _read_manifest(root)
        return items, sorted({i.label for i in items if i.label is not None})
    if not root.is_dir():
        raise DataError(
            f"data source {source!r} is neither a built-in (builtin:digits, "
            f"builtin:digits8), an existing folder, nor a manifest "
            f"({', '.join(MANIFEST_SUFFIXES)}); check data.source"
        )
    return _read_folder(root)


def _read_manifest(path: Path) -> list[_Item]:
    """Rows of ``path,label[,split,...]``; paths are relative to the manifest's folder."""
    root = path.parent.resolve()
    rows = _manifest_rows(path)
    items = []
    for i, row in enumerate(rows, start=1):
        where = f"{path.name}:{i}"
        rel = str(row.pop("path", "") or "").strip()
        label = row.pop("label", None)
        label = None if label is None or str(label).strip() == "" else str(label).strip()
        split = row.pop("split", None) or None
        meta = {k: v for k, v in row.items() if v not in (None, "")}
        if not rel:
            items.append(_Item(f"{where} (no path)", b"", label, str(path), split, meta))
            continue
        file = (root / rel).resolve()
        if not file.is_relative_to(root):
            items.append(_Item(f"{where} {rel}", b"", label, str(path), split, meta))
            continue
        try:
            data = file.read_bytes()
        except OSError as e:
            data, rel = b"", f"{rel} ({e.strerror})"
        items.append(_Item(f"{where} {rel}", data, label, str(path), split, meta))
    return items


def _manifest_rows(path: Path) -> list[dict[str, Any]]:
    import csv

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read manifest {path}: {e}") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise DataError(
                f"manifest {path} needs a header row with a 'path' column "
                f"(and optionally label, split, metadata...); got "
                f"{reader.fieldnames}"
            )
        return [dict(r) for r in reader]
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"manifest {path} line {n} is not JSON ({e.msg}); each line must "
                f'be an object like {{"path": "a.png", "label": "3"}}'
            ) from None
        if not isinstance(row, dict):
            raise DataError(
                f"manifest {path} line {n} must be a JSON object, got {type(row).__name__}"
            )
        rows.append(row)
    return rows


def _read_builtin(source: str, progress: bool) -> tuple[list[_Item], list[str]]:
    from PIL import Image

    from dlstack.data._builtin import load_builtin

    raw = load_builtin(source)
    items = []
    for i, (image, label) in enumerate(
        track(
            zip(raw.images, raw.labels, strict=True),
            f"encoding {source}",
            total=len(raw.labels),
            enabled=progress,
        )
    ):
        buf = io.BytesIO()
        # Fixed encoder settings: the same pixels always give the same bytes (and key).
        Image.fromarray(image, mode="L").save(buf, format="PNG", optimize=False, compress_level=6)
        items.append(_Item(f"{source}#{i}", buf.getvalue(), raw.classes[label], source))
    return items, list(raw.classes)


def _read_folder(root: Path) -> tuple[list[_Item], list[str]]:
    root = root.resolve()
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = []
    for label in classes:
        for path in sorted(_files(root / label)):
            name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
            real = path.resolve()
            if not real.is_relative_to(root):
                # A symlink out of the source folder: never read files the user didn't point at.
                items.append(_Item(name, b"", label, str(root)))
                continue
            try:
                data = real.read_bytes()
            except OSError as e:
                data = b""
                name = f"{name} ({e.strerror})"
            items.append(_Item(name, data, label, str(root)))
    return items, classes


def _files(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.suffix.lower() in IMAGE_SUFFIXES and (path.is_file() or path.is_symlink()):
            yield path
