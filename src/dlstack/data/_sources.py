"""Reading a source into items for ingest: a built-in, a folder of class subfolders, or
a manifest (CSV, JSONL or Parquet).

A manifest with a ``path`` column names one image per row (relative to the manifest);
one without is a **table**: each row's feature columns are the example. The target column
is ``label`` unless ``[data] target`` names another; ``split`` is optional; any other
column is metadata (slices) — or, in a table, a feature unless ``[data.table] features``
lists the features. A table example is stored as canonical JSON of its values, so the
same values are the same object and a changed value is a new example. A manifest with a
``path`` column *and* ``[data.table] features`` is an example of **several inputs**: the
image and those columns (the other columns stay metadata).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dlstack._progress import track
from dlstack.data._line_source import LINES_SOURCE
from dlstack.data._store import sha256
from dlstack.errors import DataError
from dlstack.inputs import (
    IMAGE_SUFFIXES,
    MANIFEST_SUFFIXES,
    TableSpec,
    infer_columns,
    is_hf_source,
    parse_value,
    read_rows,
)
from dlstack.targets import TargetSpec

if TYPE_CHECKING:
    from dlstack.config import LinesConfig, TableConfig

__all__ = [
    "MANIFEST_SUFFIXES",
    "SourceItem",
    "SourceRead",
    "image_key",
    "read_source",
    "several_object",
    "table_values",
]
_RESERVED = ("path", "split")  # manifest columns that are never features or metadata


@dataclass(frozen=True)
class SourceItem:
    name: str  # shown in messages
    data: bytes  # the object to store: image bytes, or a table row's canonical JSON
    label: str | None  # None: unlabeled, goes to the labeling queue
    source: str
    split: str | None = None  # a split the source asks for; else assigned by seeded hash
    meta: dict[str, Any] = field(default_factory=dict)
    # "several": ``data`` is the canonical JSON of a table row and its image's key, and
    # ``image`` the image's bytes (stored as their own object).
    kind: Literal["image", "table", "several"] = "image"
    error: str | None = None  # why this item cannot be stored (ingest rejects it)
    image: bytes = b""


@dataclass(frozen=True)
class SourceRead:
    items: list[SourceItem]
    classes: list[str]
    table: TableSpec | None = None  # the source's columns, when it is a table
    notes: list[str] = field(default_factory=list)  # how the table's columns were read
    # A generated source (builtin:lines): its examples replace the ones an earlier ingest
    # of it staged, and ``record`` (the settings) goes with the versions made of them.
    replaces: bool = False
    record: dict[str, Any] | None = None

    @property
    def has_images(self) -> bool:
        """Its examples hold an image (alone, or with a table row)."""
        return self.table is None or any(i.kind == "several" for i in self.items)


def read_source(
    source: str,
    progress: bool,
    *,
    target: str = "label",
    table: TableConfig | None = None,
    known_table: TableSpec | None = None,
    targets: TargetSpec | None = None,
    lines: LinesConfig | None = None,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> SourceRead:
    """``targets``: how the target column(s) read for the project's task (default: one
    class per example, from ``target``); a value the task cannot take is a DataError
    before anything is stored. ``lines``, ``split`` and ``seed``: how builtin:lines
    composes its lines (``[data.lines]``) and splits the glyphs (``[data]``)."""
    spec = targets if targets is not None else TargetSpec(columns=(target,))
    target = spec.column
    if source == LINES_SOURCE or (spec.task == "ctc" and source.startswith("builtin:")):
        return _read_lines(source, spec, lines, split, seed, progress)
    if spec.task != "classification" and not _is_manifest(source):
        raise DataError(
            f"project.task = {spec.task!r} reads its target from a manifest column "
            f"({', '.join(spec.columns)}); source {source!r} gives one class per example "
            f"(a folder's subfolders, a built-in). Use a CSV, JSONL or Parquet manifest"
        )
    if source.startswith("builtin:"):
        items, classes = _read_builtin(source, progress)
        return SourceRead(items, classes)
    if is_hf_source(source):
        if spec.task != "classification":
            raise DataError(
                f"a Hugging Face source reads one class per example; project.task = "
                f"{spec.task!r} needs a CSV, JSONL or Parquet manifest (export the dataset "
                f"to one, e.g. Dataset.to_csv)"
            )
        return _read_hf(source, target, table, known_table)
    root = Path(source).expanduser()
    if root.is_file() and root.suffix.lower() in MANIFEST_SUFFIXES:
        rows = read_rows(root)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        if "path" in columns and ((table is not None and table.features) or known_table):
            # An image and declared feature columns: an example of several inputs.
            return _several_rows(root, rows, columns, target, table, known_table, spec)
        if "path" in columns:
            items = _image_rows(root, rows, target, spec)
            return SourceRead(items, spec.classes_of(i.label for i in items))
        return _table_rows(root, rows, columns, target, table, known_table, spec)
    if not root.is_dir():
        raise DataError(
            f"data source {source!r} is neither a built-in (builtin:digits, "
            f"builtin:digits8, builtin:lines), an existing folder, nor a manifest "
            f"({', '.join(MANIFEST_SUFFIXES)}); check data.source"
        )
    items, classes = _read_folder(root)
    return SourceRead(items, classes)


def _read_lines(
    source: str,
    spec: TargetSpec,
    lines: LinesConfig | None,
    split: tuple[float, float, float],
    seed: int,
    progress: bool,
) -> SourceRead:
    """builtin:lines: each line a PNG, its text the label, its glyphs' split its split."""
    from dlstack.config import LinesConfig
    from dlstack.data._line_source import compose_source

    if source != LINES_SOURCE:
        raise DataError(
            f'project.task = "ctc" reads lines of text; source {source!r} holds single '
            f"digits. Use source = {LINES_SOURCE!r}, or a CSV/JSONL manifest of line images "
            f"with a 'path' and a text 'label' column"
        )
    if spec.task != "ctc":
        raise DataError(
            f"source {LINES_SOURCE!r} holds lines of text, which project.task = "
            f'{spec.task!r} cannot learn; set [project] task = "ctc" in dlstack.toml'
        )
    composed, record = compose_source(lines or LinesConfig(), split, seed, progress)
    drawn = "".join(sorted({ch for line in composed for ch in line.text}))
    if spec.classes and (outside := [ch for ch in drawn if ch not in spec.classes]):
        raise DataError(
            f"[data] classes {list(spec.classes)} lacks the character(s) "
            f"{', '.join(map(repr, outside))} that {LINES_SOURCE} draws; add them to "
            f"[data] classes, or leave classes out (the characters seen), or drop the line "
            f"kinds that use them from [data.lines] kinds"
        )
    items = [SourceItem(c.name, c.data, c.text, LINES_SOURCE, c.split, c.meta) for c in composed]
    return SourceRead(
        items, spec.classes_of(c.text for c in composed), replaces=True, record=record
    )


def table_values(data: bytes) -> dict[str, float | str | None]:
    """A stored table example's values (the inverse of what ingest stores)."""
    return dict(json.loads(data.decode())["values"])


def _classes(items: list[SourceItem]) -> list[str]:
    return sorted({i.label for i in items if i.label is not None})


def _is_manifest(source: str) -> bool:
    path = Path(source).expanduser()
    return path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES


def _label(
    row: dict[str, Any], target: str, spec: TargetSpec | None = None, where: str = ""
) -> str | None:
    if spec is not None and spec.task != "classification":
        return spec.read(row, where)  # the task's canonical label (dlstack.targets)
    label = row.pop(target, None)
    return None if label is None or str(label).strip() == "" else str(label).strip()


def _image_rows(
    path: Path, rows: list[dict[str, Any]], target: str, spec: TargetSpec | None = None
) -> list[SourceItem]:
    """Rows of ``path,label[,split,...]``; paths are relative to the manifest's folder."""
    root = path.parent.resolve()
    items = []
    for i, row in enumerate(rows, start=1):
        where = f"{path.name}:{i}"
        rel = str(row.pop("path", "") or "").strip()
        label = _label(row, target, spec, where)
        split = row.pop("split", None) or None
        meta = {k: v for k, v in row.items() if v not in (None, "")}
        data, name = _image_file(root, rel)
        items.append(SourceItem(f"{where} {name}", data, label, str(path), split, meta))
    return items


def _image_file(root: Path, rel: str) -> tuple[bytes, str]:
    """(the bytes, how to name it) of a manifest's image ``rel``; no bytes when it is not
    there or lies outside the manifest's folder (ingest rejects the row, saying why)."""
    if not rel:
        return b"", "(no path)"
    file = (root / rel).resolve()
    if not file.is_relative_to(root):
        return b"", rel
    try:
        return file.read_bytes(), rel
    except OSError as e:
        return b"", f"{rel} ({e.strerror})"


def _several_rows(
    path: Path,
    rows: list[dict[str, Any]],
    columns: list[str],
    target: str,
    table: TableConfig | None,
    known: TableSpec | None,
    targets: TargetSpec | None,
) -> SourceRead:
    """Rows of ``path`` and feature columns: an image and a table row per example.

    The stored object is the canonical JSON of the row's values and the image's sha256
    (the image bytes are an object of their own), so a changed value or a changed image
    is a new example, and the same pair the same one."""
    root = path.parent.resolve()
    read = _table_rows(
        path,
        [{k: v for k, v in row.items() if k != "path"} for row in rows],
        [c for c in columns if c != "path"],
        target,
        table,
        known,
        targets,
    )
    items = []
    for row, item in zip(rows, read.items, strict=True):
        image, name = _image_file(root, str(row.get("path") or "").strip())
        values = json.loads(item.data)["values"]
        items.append(
            replace(
                item,
                name=f"{item.name} {name}",
                data=several_object(values, sha256(image)),
                kind="several",
                image=image,
            )
        )
    return SourceRead(items, read.classes, read.table, read.notes)


def several_object(values: dict[str, Any], image_key: str) -> bytes:
    """The stored object of an example with an image and a table row."""
    doc = {"image": image_key, "values": values}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def image_key(data: bytes) -> str:
    """The image object's key in a stored example of several inputs."""
    return str(json.loads(data.decode())["image"])


def _table_columns(
    rows: list[dict[str, Any]],
    columns: list[str],
    target: str,
    table: TableConfig | None,
    known: TableSpec | None,
    targets: tuple[str, ...] = (),
) -> tuple[TableSpec, list[str]]:
    """The feature columns and their kinds: what the catalog already has, else what
    ``[data.table]`` declares, else every other column (numeric when every value reads
    as a number)."""
    if known is not None:
        absent = [c for c in known.names if c not in columns]
        if absent:
            raise DataError(
                f"the table lacks column(s) {', '.join(map(repr, absent))} that this "
                f"dataset's examples have; every ingest must give the same feature columns"
            )
        return known, []
    targets = targets or (target,)
    if absent := [t for t in targets if t not in columns]:
        raise DataError(
            f"the table has no target column {', '.join(map(repr, absent))} (columns: "
            f"{', '.join(columns)}); set [data] target to the column(s) to learn"
        )
    declared = tuple(table.features) if table is not None else ()
    names = list(declared) or [c for c in columns if c not in (*targets, *_RESERVED)]
    unknown = [c for c in names if c not in columns]
    if unknown:
        raise DataError(
            f"[data.table] features names column(s) {', '.join(map(repr, unknown))} the "
            f"table does not have (columns: {', '.join(columns)})"
        )
    if not names:
        raise DataError(f"the table has no feature columns besides {target!r}")
    return infer_columns(rows, names, table.categorical if table is not None else ())


def _table_rows(
    path: Path,
    rows: list[dict[str, Any]],
    columns: list[str],
    target: str,
    table: TableConfig | None,
    known: TableSpec | None,
    targets: TargetSpec | None = None,
) -> SourceRead:
    spec, notes = _table_columns(
        rows, columns, target, table, known, targets.columns if targets is not None else ()
    )
    refuse_missing = table is not None and table.missing == "refuse"
    items = []
    for i, raw in enumerate(rows, start=1):
        row = dict(raw)
        where = f"{path.name}:{i}"
        label = _label(row, target, targets, where)
        split = row.pop("split", None) or None
        values: dict[str, float | str | None] = {}
        error = None
        try:
            for col in spec.columns:
                value = parse_value(col.name, col.kind, row.pop(col.name, None))
                if value is None and refuse_missing:
                    raise DataError(
                        f"column {col.name!r} is empty and [data.table] missing = "
                        f'"refuse"; fill it, or set missing = "mean"'
                    )
                values[col.name] = value
        except DataError as e:
            error = str(e)
        meta = {k: v for k, v in row.items() if v not in (None, "")}
        data = json.dumps({"values": values}, sort_keys=True, separators=(",", ":")).encode()
        items.append(
            SourceItem(where, data, label, str(path), split, meta, kind="table", error=error)
        )
    classes = _classes(items) if targets is None else targets.classes_of(i.label for i in items)
    return SourceRead(items, classes, spec, notes)


def _read_hf(
    source: str, target: str, table: TableConfig | None, known: TableSpec | None
) -> SourceRead:
    """A Hugging Face dataset: images (stored as encoded) or, without an Image feature,
    a table of its columns."""
    from dlstack.data import _hf

    parts, target = _hf.read_hf(source, target)
    first = parts[0][1]
    column = _hf.image_column(first)
    feature = first.features[target]
    declared = list(feature.names) if type(feature).__name__ == "ClassLabel" else None
    if column is None:
        rows = []
        for split, part in parts:
            for row in part:
                row = dict(row)
                row[target] = _hf.label_name(part, target, row[target])
                if split is not None:
                    row["split"] = split
                rows.append(row)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        read = _table_rows(Path(source), rows, columns, target, table, known)
        return SourceRead(read.items, declared or read.classes, read.table, read.notes)
    items = []
    for split, part in parts:
        blobs = _hf.image_bytes(part, column)
        labels = part[target]
        scalars = [
            c
            for c, f in part.features.items()
            if c not in (column, target) and type(f).__name__ in ("Value", "ClassLabel")
        ]
        meta_columns = {c: part[c] for c in scalars}
        for i, data in enumerate(blobs):
            label = _hf.label_name(part, target, labels[i])
            meta = {c: values[i] for c, values in meta_columns.items() if values[i] is not None}
            name = f"{source}[{split or 'rows'}#{i}]"
            items.append(SourceItem(name, data, label, source, split, meta))
    return SourceRead(items, declared or _classes(items))


def _read_builtin(source: str, progress: bool) -> tuple[list[SourceItem], list[str]]:
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
        items.append(SourceItem(f"{source}#{i}", buf.getvalue(), raw.classes[label], source))
    return items, list(raw.classes)


def _read_folder(root: Path) -> tuple[list[SourceItem], list[str]]:
    root = root.resolve()
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = []
    for label in classes:
        for path in sorted(_files(root / label)):
            name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
            real = path.resolve()
            if not real.is_relative_to(root):
                # A symlink out of the source folder: never read files the user didn't point at.
                items.append(SourceItem(name, b"", label, str(root)))
                continue
            try:
                data = real.read_bytes()
            except OSError as e:
                data = b""
                name = f"{name} ({e.strerror})"
            items.append(SourceItem(name, data, label, str(root)))
    return items, classes


def _files(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.suffix.lower() in IMAGE_SUFFIXES and (path.is_file() or path.is_symlink()):
            yield path
