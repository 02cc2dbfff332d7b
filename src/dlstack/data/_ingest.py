"""Bring examples from a source into the store and the catalog's working set.

Sources (read by ``data._sources``): ``builtin:NAME``; a folder in class-subfolder layout
(``root/<label>/<file>``); a CSV, JSONL or Parquet manifest with ``path`` and optional
``label``, ``split`` and any other columns, which are kept as the example's metadata
(source, writer, device...) for slices; or a manifest without ``path``: a table, each row
an example of feature columns. An example without a label is stored and queued for
labeling instead of staged. Each example is checked on its own; a bad one is rejected
with its reason and the rest go in. The catalog rows of one ingest are written in one
transaction: never a half-ingested batch. Objects are written first; an interrupted
ingest can leave unreferenced objects, which are harmless (content-addressed) and
invisible to every version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dlstack._progress import track
from dlstack.data._catalog import Catalog, examples, staged
from dlstack.data._image_spec import (
    IMAGE_META,
    LEGACY_SIZE_META,
    TABLE_META,
    inferred_spec,
    line_spec,
)
from dlstack.data._line_source import LINES_META
from dlstack.data._sources import SourceItem, SourceRead, read_source
from dlstack.data._splits import SPLITS, assign_splits
from dlstack.data._store import ObjectStore, sha256
from dlstack.errors import DataError
from dlstack.inputs import (
    IMAGE_SUFFIXES,
    MAX_LINE_WIDTH,
    ImageInfo,
    ImageSpec,
    TableSpec,
    infer_image_spec,
    inspect_image,
)
from dlstack.targets import TargetSpec, multilabel_names

if TYPE_CHECKING:
    from dlstack.config import ImageConfig, LinesConfig, TableConfig

__all__ = ["TASK_META", "IngestReport", "ingest"]

TASK_META = "task"  # catalog meta: the task the stored labels are written for

TABLE_INFO = ImageInfo(0, 0, "table")  # a table example in the examples table: no pixels
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
    # Staged examples of an earlier ingest of a generated source (builtin:lines with other
    # [data.lines] settings) that this one replaced: out of the working set.
    replaced: int = 0

    @property
    def changed(self) -> bool:
        return self.added > 0 or self.replaced > 0


def ingest(
    catalog: Catalog,
    store: ObjectStore,
    source: str,
    *,
    split: tuple[float, float, float],
    seed: int = 0,
    progress: bool = True,
    image: ImageConfig | None = None,
    table: TableConfig | None = None,
    target: str = "label",
    targets: TargetSpec | None = None,
    lines: LinesConfig | None = None,
) -> IngestReport:
    """Add the examples of ``source`` to the working set (``staged``) of the catalog.

    Images of any size are stored as they are (checkout brings them to the input spec).
    At the first ingest the spec is inferred from the accepted images and kept in the
    catalog (``report.inferred`` says how); a color image is refused when the input is
    declared (or was inferred) grayscale: nothing is converted silently.
    """
    with catalog.begin() as conn:
        declared = catalog.get_meta(conn, "classes")
        known = inferred_spec(
            {m: catalog.get_meta(conn, m) for m in (IMAGE_META, LEGACY_SIZE_META)}
        )
        known_table = catalog.get_meta(conn, TABLE_META)
        stored_task = catalog.get_meta(conn, TASK_META)
    spec = targets if targets is not None else TargetSpec(columns=(target,))
    _check_task(spec, stored_task, declared)
    read = read_source(
        source,
        progress,
        target=target,
        table=table,
        known_table=TableSpec.from_dict(known_table) if known_table else None,
        targets=spec,
        lines=lines,
        split=split,
        seed=seed,
    )
    items = read.items
    if not items:
        raise DataError(
            f"source {source!r} holds no examples; a folder source needs "
            f"class subfolders with images ({', '.join(IMAGE_SUFFIXES)})"
        )
    _check_kind(source, read, known is not None, known_table is not None)
    report = IngestReport(source=source, inferred=list(read.notes))
    classes = list(declared or read.classes)
    if spec.task == "regression" and declared and list(declared) != list(read.classes):
        raise DataError(
            f"this dataset's regression targets are {', '.join(declared)}; [data] target "
            f"names {', '.join(read.classes)}. Keep the target columns of the first ingest, "
            f"or start another project"
        )
    declared_channels = image.channels if image is not None else None
    inferred_channels = known.channels if known is not None else None
    line_height = _line_height(image, known)

    accepted: dict[str, SourceItem] = {}
    shapes: dict[str, ImageInfo] = {}
    for item in track(items, "checking", total=len(items), enabled=progress):
        report.seen += 1
        if item.label is not None and (outside := _outside(spec.task, item.label, classes)):
            report.rejected.append(
                (item.name, f"label {outside!r} is not a declared class ({', '.join(classes)})")
            )
            continue
        if item.error is not None:
            report.rejected.append((item.name, item.error))
            continue
        if item.kind != "image" and item.label is None:
            report.rejected.append(
                (
                    item.name,
                    f"the target column {target!r} is empty; a table row needs its target "
                    f"(the labeling queue takes images only)",
                )
            )
            continue
        try:
            info = (
                TABLE_INFO
                if item.kind == "table"
                else inspect_image(item.image if item.kind == "several" else item.data)
            )
        except DataError as e:
            report.rejected.append((item.name, str(e)))
            continue
        if line_height is not None and (too_wide := _too_wide(info, line_height)):
            report.rejected.append((item.name, too_wide))
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
        chunk = [accepted[k] for k in keys[start : start + STORE_CHUNK]]
        # An example of several inputs refers to its image by key: the image goes in too.
        store.put_many([i.data for i in chunk] + [i.image for i in chunk if i.kind == "several"])

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
        # Stratified by class; a set of classes or a number is no stratum: one group.
        strata = [accepted[k].label if spec.task == "classification" else "" for k in new_ids]
        new_splits = assign_splits(new_ids, strata, split, seed)
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
        if read.replaces:
            report.replaced = _replace_earlier(conn, source, set(accepted))
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
        if stored_task is None and spec.task != "classification":
            catalog.set_meta(conn, TASK_META, spec.task)
        if read.table is not None and known_table is None:
            catalog.set_meta(conn, TABLE_META, read.table.to_dict())
        if read.record is not None:
            catalog.set_meta(conn, LINES_META, read.record)
        if read.has_images and known is None:
            image_spec, inferred = infer_image_spec(shapes.values())
            if spec.task == "ctc" or (image is not None and image.variable_width):
                image_spec, inferred = line_spec(image_spec, inferred, shapes.values(), image)
            report.inferred += inferred
            catalog.set_meta(conn, IMAGE_META, image_spec.to_dict())
    return report


def _line_height(declared: ImageConfig | None, known: ImageSpec | None) -> int | None:
    """The height lines are scaled to, when the input is known to be lines (else None)."""
    if declared is not None and declared.size is not None:
        return declared.size[0] if declared.variable_width else None
    return known.size[0] if known is not None and known.variable_width else None


def _too_wide(info: ImageInfo, height: int) -> str | None:
    """Why a line image cannot be an input of ``height`` (None: it can)."""
    width = max(1, round(info.width * height / max(1, info.height)))
    if width <= MAX_LINE_WIDTH:
        return None
    return (
        f"line image {info.width}x{info.height} (width x height) would be {width} pixels "
        f"wide at the input's height {height}, more than the {MAX_LINE_WIDTH} a line may be; "
        f"crop it into shorter lines"
    )


def _replace_earlier(conn: Any, source: str, keep: set[str]) -> int:
    """Take the staged examples an earlier ingest of ``source`` stored, and this one does
    not give again, out of the working set; how many."""
    from sqlalchemy import select

    earlier = conn.execute(
        select(staged.c.example_id)
        .join(examples, examples.c.id == staged.c.example_id)
        .where(examples.c.source == source)
    ).all()
    gone = [r.example_id for r in earlier if r.example_id not in keep]
    for start in range(0, len(gone), STORE_CHUNK):
        conn.execute(
            staged.delete().where(staged.c.example_id.in_(gone[start : start + STORE_CHUNK]))
        )
    return len(gone)


def _outside(task: str, label: str, classes: list[str]) -> str | None:
    """The part of ``label`` that is not among ``classes`` (None: it fits)."""
    if task == "regression":
        return None  # numbers: the target columns were checked for the whole source
    if task == "multilabel":
        unknown = [n for n in multilabel_names(label) if n not in classes]
        return ", ".join(unknown) or None
    if task == "ctc":
        return "".join(sorted({ch for ch in label if ch not in classes})) or None
    return None if label in classes else label


def _check_task(spec: TargetSpec, stored: str | None, declared: list[str] | None) -> None:
    """The stored labels are written for one task: another task cannot read them."""
    had = stored or ("classification" if declared else None)
    if had is not None and had != spec.task:
        raise DataError(
            f"this dataset's labels were ingested for project.task = {had!r}; dlstack.toml "
            f"says {spec.task!r}. Set project.task back to {had!r}, or start another "
            f"project (a new .dlstack) for the {spec.task} task"
        )


def _check_kind(source: str, read: SourceRead, has_images: bool, has_table: bool) -> None:
    """One project holds one kind of example: images, table rows, or both per example."""
    if not (has_images or has_table):
        return  # the first ingest decides
    got = (read.has_images, read.table is not None)
    if got == (has_images, has_table):
        return
    names = {
        (True, False): "images",
        (False, True): "a table",
        (True, True): "an image and table columns per example",
    }
    fix = {
        (True, False): "Name each image file in a 'path' column (relative to the manifest)",
        (False, True): "Give the same feature columns as its first ingest, without 'path'",
        (True, True): "Give a 'path' column and the [data.table] features of its first ingest",
    }
    raise DataError(
        f"this dataset holds {names[(has_images, has_table)]}; source {source!r} holds "
        f"{names[got]}. {fix[(has_images, has_table)]}, or start another project"
    )
