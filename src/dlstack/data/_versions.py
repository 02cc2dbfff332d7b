"""Immutable data versions: commit the working set, list history, check out a snapshot.

A version is a set of (example, label, split) rows plus parent, message, author and a
content hash. Its id is the sha256 of the parent id and the content hash, so committing
the same data again is recognised and creates nothing.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import case, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from dlstack._progress import track
from dlstack.data._catalog import Catalog, refs, staged, version_rows, versions
from dlstack.data._diff import EXAMPLES_SHOWN, VersionDiff
from dlstack.data._image_spec import (
    IMAGE_META,
    LEGACY_SIZE_META,
    TABLE_META,
    inferred_spec,
    resolve_image_spec,
)
from dlstack.data._ingest import TASK_META, IngestReport, ingest
from dlstack.data._lake import Lake
from dlstack.data._line_arrays import line_arrays
from dlstack.data._line_source import LINES_META
from dlstack.data._snapshot import Snapshot, SnapshotDamaged
from dlstack.data._sources import image_key, table_values
from dlstack.data._splits import SPLITS
from dlstack.data._store import ObjectStore
from dlstack.errors import DataError, DlstackWarning
from dlstack.inputs import Column, ImageSpec, TableSpec, decode_image, prepare_with
from dlstack.targets import FLOAT_TARGETS, TargetSpec, target_matrix

if TYPE_CHECKING:
    from dlstack.config import ImageConfig, LinesConfig, Project, TableConfig

__all__ = ["DataRepo", "Integrity", "Version", "snapshot_for"]

HEAD = "HEAD"
_TAG = "tag:"  # tags live in refs beside HEAD, under this prefix
SHORT = 12  # characters of a version id shown to people; any unique prefix resolves


@dataclass(frozen=True)
class Version:
    id: str
    seq: int
    parent: str | None
    message: str
    author: str
    created_at: datetime
    content_hash: str
    n_examples: int
    classes: tuple[str, ...]
    counts: dict[str, int]

    @property
    def short(self) -> str:
        return self.id[:SHORT]


_RELATIVE = re.compile(r"^HEAD(?:~([0-9]{0,6}))?$")  # HEAD, HEAD~, HEAD~3 (ASCII digits)
_HEX = re.compile(r"^[0-9a-f]{1,64}$")  # ids and their prefixes: nothing SQL LIKE reads


class DataRepo:
    """The data of one project: its object store and its catalog.

    >>> repo = DataRepo.open(project)        # doctest: +SKIP
    >>> repo.ingest("builtin:digits8"); v = repo.commit("first")   # doctest: +SKIP
    >>> snapshot = repo.checkout(v.id)        # doctest: +SKIP
    """

    def __init__(
        self,
        catalog: Catalog,
        store: ObjectStore,
        snapshots_dir: Path,
        lake: Lake | None = None,
        image: ImageConfig | None = None,
        table: TableConfig | None = None,
        target: str = "label",
        targets: TargetSpec | None = None,
        lines: LinesConfig | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.snapshots_dir = snapshots_dir
        self.lake = lake
        self.image = image  # [data.image]: what the project declares of its input
        self.table = table  # [data.table]: a tabular source's feature columns
        self.target = target  # [data] target: the manifest column to learn
        # [project] task with [data] target/separator/classes: how targets are read.
        self.targets = targets
        self.lines = lines  # [data.lines]: how builtin:lines composes its lines

    @classmethod
    def open(cls, project: Project) -> DataRepo:
        catalog = Catalog(project.catalog_url, namespace=project.config.project.name)
        return cls(
            catalog,
            ObjectStore(project.store_url, **project.store_options),
            project.snapshots_dir,
            Lake(project.lake_url, **project.lake_options),
            project.config.data.image,
            project.config.data.table,
            project.config.data.targets[0],
            TargetSpec.from_config(project.config),
            project.config.data.lines,
        )

    def close(self) -> None:
        self.catalog.close()

    # -- ingest and commit -------------------------------------------------------------

    def ingest(
        self,
        source: str,
        *,
        split: tuple[float, float, float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        progress: bool = True,
    ) -> IngestReport:
        report = ingest(
            self.catalog,
            self.store,
            source,
            split=split,
            seed=seed,
            progress=progress,
            image=self.image,
            table=self.table,
            target=self.target,
            targets=self.targets,
            lines=self.lines,
        )
        if self.lake is not None:  # the ingest report goes to the lake, for `data query`
            now = datetime.now(UTC)
            self.lake.append(
                "ingest_reports",
                [
                    {
                        "at": now,
                        "source": source,
                        "seen": report.seen,
                        "added": report.added,
                        "unchanged": report.unchanged,
                        "duplicates": report.duplicates,
                        "queued": report.queued,
                        "rejected": len(report.rejected),
                    }
                ],
                when=now,
            )
            self.lake.append(
                "ingest_rejections",
                [
                    {"at": now, "source": source, "item": item, "reason": reason}
                    for item, reason in report.rejected
                ],
                when=now,
            )
        return report

    def run_steps(self, snapshot: Snapshot, project: Project) -> tuple[Snapshot, list[Any]]:
        """The project's declared data steps on a snapshot, cached under .dlstack/cache."""
        from dlstack.data._workflow import run_steps

        steps = [(s.name, s.call, dict(s.params)) for s in project.config.data.steps]
        if not steps:
            return snapshot, []
        return run_steps(
            snapshot,
            steps,
            cache_dir=project.steps_cache_dir,
            seed=project.config.data.seed,
            search_path=project.root,
        )

    def query(self, sql: str, *, allow_files: bool = False) -> Any:
        """DuckDB SQL over the lake's datasets and the catalog's tables (an Arrow table);
        reads and writes no file unless ``allow_files``."""
        from dlstack.data._lake import query

        return query(sql, lake=self.lake, catalog=self.catalog, allow_files=allow_files)

    def commit(self, message: str, *, author: str | None = None) -> Version | None:
        """Record the working set as a new version; None when it equals HEAD already."""
        if not message.strip():
            raise DataError("a commit needs a message (-m 'what changed and why')")
        try:
            vid = self._commit(message, author)
        except (IntegrityError, OperationalError) as e:
            # Another process moved HEAD between our read and our write (PostgreSQL), or
            # held the write lock past busy_timeout (sqlite). Our transaction rolled back.
            raise DataError(
                "parent changed: another commit landed while this one was running, so this "
                f"one was not recorded ({type(e).__name__}); run `dlstack data commit` again"
            ) from None
        return None if vid is None else self.resolve(vid)

    def _commit(self, message: str, author: str | None) -> str | None:
        with self.catalog.begin() as conn:
            rows = conn.execute(
                select(staged.c.example_id, staged.c.label, staged.c.split).order_by(
                    staged.c.example_id
                )
            ).all()
            if not rows:
                raise DataError(
                    "nothing to commit: the working set is empty; run `dlstack data ingest` first"
                )
            content = _content_hash(rows)
            head = self._head(conn, lock=True)
            if head is not None and head.content_hash == content:
                return None
            parent = head.id if head else None
            vid = hashlib.sha256(f"{parent}:{content}".encode()).hexdigest()
            seq = (conn.execute(select(func.max(versions.c.seq))).scalar() or 0) + 1
            classes = self.catalog.get_meta(conn, "classes") or []
            counts = {s: sum(1 for r in rows if r.split == s) for s in SPLITS}
            conn.execute(
                versions.insert().values(
                    id=vid,
                    seq=seq,
                    parent=parent,
                    message=message.strip(),
                    author=author or _author(),
                    created_at=datetime.now(UTC),
                    content_hash=content,
                    n_examples=len(rows),
                    classes=classes,
                    counts=counts,
                )
            )
            conn.execute(
                insert(version_rows).from_select(
                    ["version_id", "example_id", "label", "split"],
                    select(_literal(vid), staged.c.example_id, staged.c.label, staged.c.split),
                )
            )
            self._on_commit_rows_written(conn)
            composed = self.catalog.get_meta(conn, LINES_META)
            if composed is not None:  # builtin:lines' settings, kept with the version
                self.catalog.set_meta(conn, f"{LINES_META}@{vid}", composed)
            if head is None:
                conn.execute(refs.insert().values(name=HEAD, version_id=vid))
            else:
                # Compare-and-swap: move HEAD only if it still points at our parent.
                moved = conn.execute(
                    refs.update()
                    .where((refs.c.name == HEAD) & (refs.c.version_id == head.id))
                    .values(version_id=vid)
                )
                if moved.rowcount != 1:
                    raise IntegrityError("HEAD moved", None, Exception("HEAD moved"))
        return vid

    def remove(self, refs_: list[str]) -> list[str]:
        """Take examples (full ids or unique prefixes of >= 8 characters) out of the working
        set; the next commit records their removal. Versions that hold them keep them."""
        removed = []
        with self.catalog.begin() as conn:
            for ref in refs_:
                ref = ref.strip().lower()
                found = (
                    conn.execute(
                        select(staged.c.example_id)
                        .where(staged.c.example_id.startswith(ref))
                        .limit(2)
                    )
                    .scalars()
                    .all()
                    if _HEX.match(ref)
                    else []
                )
                if len(ref) < 8 or len(found) != 1:
                    why = "is ambiguous" if len(found) > 1 else "matches no staged example"
                    if len(ref) < 8:
                        why = "is shorter than 8 characters"
                    raise DataError(
                        f"example {ref!r} {why}; nothing was removed. Give ids "
                        f'from `dlstack data query "SELECT example_id FROM staged"`'
                    )
                removed.append(found[0])
            conn.execute(staged.delete().where(staged.c.example_id.in_(removed)))
        return removed

    def _on_commit_rows_written(self, conn: Connection) -> None:
        """Hook between writing a version's rows and moving HEAD (tests interrupt here)."""

    # -- history -------------------------------------------------------------------------

    def log(self) -> list[Version]:
        """All versions, newest first."""
        with self.catalog.connect() as conn:
            return [
                _version(r) for r in conn.execute(versions.select().order_by(versions.c.seq.desc()))
            ]

    def head(self) -> Version | None:
        with self.catalog.connect() as conn:
            return self._head(conn)

    def resolve(self, ref: str = HEAD) -> Version:
        """A version by ``HEAD``, ``HEAD~N``, its full id or a unique prefix of it."""
        with self.catalog.connect() as conn:
            return self._resolve(conn, ref)

    def _resolve(self, conn: Connection, ref: str) -> Version:
        ref = ref.strip()
        if ref == HEAD or ref.startswith(HEAD + "~"):
            relative = _RELATIVE.match(ref)
            if relative is None:
                raise DataError(
                    f"version {ref!r} is not HEAD, HEAD~N (N a number: HEAD~2 is two versions "
                    f"before HEAD), a tag or an id; `dlstack data log` lists the versions"
                )
            back = int(relative[1] or 1) if "~" in ref else 0
            version = self._head(conn)
            for _ in range(back):
                if version is None or version.parent is None:
                    break
                version = self._resolve(conn, version.parent)
            else:
                if version is not None:
                    return version
            raise DataError(
                f"version {ref!r} does not exist; `dlstack data log` lists the "
                f"versions" + ("" if self._head(conn) else " (none yet: ingest and commit first)")
            )
        tagged = conn.execute(select(refs.c.version_id).where(refs.c.name == _TAG + ref)).scalar()
        if tagged is not None:
            return self._resolve(conn, tagged)
        prefix = ref.lower()
        found = (
            conn.execute(versions.select().where(versions.c.id.startswith(prefix)).limit(2)).all()
            if _HEX.match(prefix)  # ids are hex: a % or _ is matched as itself, i.e. never
            else []
        )
        if len(found) == 1 and len(ref) >= 4:
            return _version(found[0])
        why = "is ambiguous" if len(found) > 1 else "matches no version"
        raise DataError(
            f"version {ref!r} {why}; give a tag, at least 4 characters of an id "
            f"from `dlstack data log`, or HEAD"
        )

    def tag(self, name: str, ref: str = HEAD) -> Version:
        """Name a version. Tags are unique and never move: delete-and-retag is explicit."""
        if (
            not name
            or name == HEAD
            or "~" in name
            or not name.replace("-", "").replace(".", "").replace("_", "").isalnum()
        ):
            raise DataError(
                f"tag {name!r} is not allowed; use letters, digits, '.', '-', '_' (and not HEAD)"
            )
        with self.catalog.begin() as conn:
            version = self._resolve(conn, ref)
            existing = conn.execute(
                select(refs.c.version_id).where(refs.c.name == _TAG + name)
            ).scalar()
            if existing is not None:
                raise DataError(
                    f"tag {name!r} already names version {existing[:SHORT]}; tags "
                    f"never move, pick another name"
                )
            conn.execute(refs.insert().values(name=_TAG + name, version_id=version.id))
        return version

    def tags(self) -> dict[str, str]:
        """Tag name -> version id."""
        with self.catalog.connect() as conn:
            rows = conn.execute(
                select(refs.c.name, refs.c.version_id).where(refs.c.name.startswith(_TAG))
            ).all()
        return {r.name.removeprefix(_TAG): r.version_id for r in rows}

    def diff(self, a: str, b: str = HEAD) -> VersionDiff:
        """What changed from version ``a`` to ``b``, computed in the database.

        Two indexed joins over the versions' rows (primary key (version_id, example_id))
        give every count; a few examples of each kind follow in index order. Nothing of
        the versions' size crosses into Python.
        """
        va, vb = self.resolve(a), self.resolve(b)
        ra, rb = version_rows.alias("ra"), version_rows.alias("rb")
        b_left_a = rb.outerjoin(
            ra, (ra.c.example_id == rb.c.example_id) & (ra.c.version_id == va.id)
        )
        a_left_b = ra.outerjoin(
            rb, (rb.c.example_id == ra.c.example_id) & (rb.c.version_id == vb.id)
        )
        in_b, in_a = rb.c.version_id == vb.id, ra.c.version_id == va.id

        def flag(condition: Any) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        shared = ra.c.example_id.is_not(None)
        relabel = shared & (ra.c.label != rb.c.label)
        move = shared & (ra.c.split != rb.c.split)
        kinds = {
            "added": (b_left_a, in_b & ra.c.example_id.is_(None), rb.c.example_id),
            "removed": (a_left_b, in_a & rb.c.example_id.is_(None), ra.c.example_id),
            "relabeled": (b_left_a, in_b & relabel, rb.c.example_id),
            "moved": (b_left_a, in_b & move, rb.c.example_id),
        }
        with self.catalog.connect() as conn:
            added, relabeled, moved, unchanged = conn.execute(
                select(
                    flag(ra.c.example_id.is_(None)),
                    flag(relabel),
                    flag(move),
                    flag(shared & (ra.c.label == rb.c.label) & (ra.c.split == rb.c.split)),
                )
                .select_from(b_left_a)
                .where(in_b)
            ).one()
            removed = conn.execute(
                select(func.count()).select_from(a_left_b).where(in_a & rb.c.example_id.is_(None))
            ).scalar()
            counts = {"added": added, "removed": removed, "relabeled": relabeled, "moved": moved}
            examples: dict[str, list[tuple[str, str, str]]] = {}
            for kind, (source, where, key) in kinds.items():
                rows = (
                    []
                    if not counts[kind]
                    else conn.execute(
                        select(key, ra.c.label, ra.c.split, rb.c.label, rb.c.split)
                        .select_from(source)
                        .where(where)
                        .order_by(key)
                        .limit(EXAMPLES_SHOWN)
                    ).all()
                )
                examples[kind] = [_example(kind, r) for r in rows]
        return VersionDiff(
            int(added), int(removed or 0), int(relabeled), int(moved), int(unchanged), examples
        )

    def rows(self, ref: str = HEAD) -> dict[str, tuple[str, str]]:
        """example id -> (label, split) of one version."""
        version = self.resolve(ref)
        with self.catalog.connect() as conn:
            result = conn.execute(
                select(version_rows.c.example_id, version_rows.c.label, version_rows.c.split).where(
                    version_rows.c.version_id == version.id
                )
            )
            return {r.example_id: (r.label, r.split) for r in result}

    def _head(self, conn: Connection, *, lock: bool = False) -> Version | None:
        query = (
            versions.select()
            .join(refs, refs.c.version_id == versions.c.id)
            .where(refs.c.name == HEAD)
        )
        if lock:  # PostgreSQL: a concurrent committer waits here (sqlite ignores it)
            query = query.with_for_update(of=refs)
        row = conn.execute(query).first()
        return _version(row) if row else None

    # -- checkout --------------------------------------------------------------------------

    def verify(self, *, repair: bool = False, cache_dirs: tuple[Path, ...] = ()) -> Integrity:
        """Check every stored object against its hash and every snapshot (and cached step
        output under ``cache_dirs``) against the hashes saved with it. With ``repair``,
        damaged objects are removed (re-ingest restores them) and damaged snapshots deleted
        (the next checkout rebuilds them from the store)."""
        checked, damaged = self.store.verify(repair=repair)
        affected: list[str] = []
        if damaged:
            with self.catalog.connect() as conn:
                for start in range(0, len(damaged), 500):
                    affected += (
                        conn.execute(
                            select(version_rows.c.version_id)
                            .where(version_rows.c.example_id.in_(damaged[start : start + 500]))
                            .distinct()
                        )
                        .scalars()
                        .all()
                    )
        folders = [
            p.parent
            for d in (self.snapshots_dir, *cache_dirs)
            if d.is_dir()
            for p in d.rglob("meta.json")
        ]
        broken = []
        for folder in folders:
            try:
                Snapshot.load(folder)
            except DataError as e:
                broken.append((folder, str(e)))
                if repair:
                    shutil.rmtree(folder, ignore_errors=True)
        return Integrity(checked, damaged, sorted(set(affected)), len(folders), broken, repair)

    def composed_with(self, ref: str = HEAD) -> dict[str, Any] | None:
        """The builtin:lines settings a version's lines were composed with (None: it holds
        no composed lines)."""
        vid = self.resolve(ref).id
        with self.catalog.connect() as conn:
            record = self.catalog.get_meta(conn, f"{LINES_META}@{vid}")
        return dict(record) if record else None

    def table_spec(self) -> TableSpec | None:
        """A tabular dataset's columns (None for images), as its first ingest read them."""
        with self.catalog.connect() as conn:
            meta = self.catalog.get_meta(conn, TABLE_META)
        return TableSpec.from_dict(meta) if meta else None

    def task(self) -> str:
        """The task the stored labels are written for (classification unless ingest
        recorded another)."""
        with self.catalog.connect() as conn:
            return str(self.catalog.get_meta(conn, TASK_META) or "classification")

    def _holds_images(self) -> bool:
        """The examples hold an image (the first ingest inferred its spec)."""
        with self.catalog.connect() as conn:
            return any(self.catalog.get_meta(conn, m) for m in (IMAGE_META, LEGACY_SIZE_META))

    def image_spec(self) -> ImageSpec:
        """The input spec checkout applies: ``[data.image]`` over what ingest inferred."""
        with self.catalog.connect() as conn:
            meta = {m: self.catalog.get_meta(conn, m) for m in (IMAGE_META, LEGACY_SIZE_META)}
        return resolve_image_spec(self.image, inferred_spec(meta))

    def checkout(
        self, ref: str = HEAD, *, progress: bool = True, image: ImageSpec | None = None
    ) -> tuple[Version, Snapshot]:
        """Materialize a version into local arrays, every image prepared by the input spec
        (the project's, or ``image``: a package's, for the drift monitor). Cached per
        version; objects verified."""
        version = self.resolve(ref)
        table = self.table_spec()
        # A table's examples have no image, unless they hold one each (several inputs).
        holds_images = table is None or self._holds_images()
        spec = (image or self.image_spec()) if holds_images else None
        # One folder per version: arrays made with another spec (the project's [data.image]
        # changed) are rebuilt in its place.
        path = self.snapshots_dir / version.short
        if (path / "meta.json").is_file():
            try:
                snap = Snapshot.load(path)
            except SnapshotDamaged as e:
                warnings.warn(f"{e}; rebuilding it from the store", DlstackWarning, stacklevel=2)
            else:
                if snap.version == version.id and snap.image == spec:
                    return version, snap
        with self.catalog.connect() as conn:
            rows = conn.execute(
                select(version_rows.c.example_id, version_rows.c.label, version_rows.c.split)
                .where(version_rows.c.version_id == version.id)
                .order_by(version_rows.c.example_id)
            ).all()
        if not rows:
            raise DataError(f"version {version.short} has no examples")
        task = self.task()
        class_index = {c: i for i, c in enumerate(version.classes)}
        images: list[np.ndarray] = []
        values: list[dict[str, Any]] = []
        chunk = 500  # objects fetched per (concurrent, for remote stores) request batch
        for start in track(
            range(0, len(rows), chunk),
            f"checkout {version.short}",
            total=-(-len(rows) // chunk),
            enabled=progress,
        ):
            part = rows[start : start + chunk]
            blobs = self.store.get_many([r.example_id for r in part])
            if table is not None:
                values.extend(table_values(b) for b in blobs)
            if table is not None and spec is not None:
                images.extend(
                    _pixels(r.example_id, b, spec)
                    for r, b in zip(
                        part, self.store.get_many([image_key(b) for b in blobs]), strict=True
                    )
                )
            elif spec is not None:
                images.extend(
                    _pixels(r.example_id, b, spec) for r, b in zip(part, blobs, strict=True)
                )
        features = None
        if table is not None:
            features, table = table_arrays(values, table)
        float_targets = task in FLOAT_TARGETS
        lines = line_arrays(
            task, spec, images, [r.label for r in rows], version.classes, self.targets
        )
        snap = Snapshot(
            version=version.id,
            classes=lines.classes if lines is not None else version.classes,
            images=lines.images
            if lines is not None
            else np.stack(images)
            if spec is not None
            else np.zeros((len(rows), 0), np.uint8),
            # A set of classes or numbers is no class index: zeros, and the targets below.
            labels=np.zeros(len(rows), np.int64)
            if task != "classification"
            else np.array([class_index[r.label] for r in rows], dtype=np.int64),
            splits=np.array([SPLITS.index(r.split) for r in rows], dtype=np.uint8),
            ids=np.array([r.example_id for r in rows]),
            image=spec,
            features=features,
            table=table,
            task=task,
            targets=target_matrix(task, [r.label for r in rows], version.classes)
            if float_targets
            else lines.codes
            if lines is not None
            else None,
            widths=lines.widths if lines is not None else None,
        )
        snap.save(path)
        return version, Snapshot.load(path)


def table_arrays(values: list[dict[str, Any]], table: TableSpec) -> tuple[np.ndarray, TableSpec]:
    """Stored rows -> the raw table float64 (N, F) (NaN: missing; categorical: the index
    into the column's categories, which are the values this version holds, sorted)."""
    columns = []
    raw = np.full((len(values), len(table.columns)), np.nan)
    for j, col in enumerate(table.columns):
        cells = [row.get(col.name) for row in values]
        if col.kind == "categorical":
            categories = tuple(sorted({str(v) for v in cells if v is not None}))
            index = {c: i for i, c in enumerate(categories)}
            raw[:, j] = [np.nan if v is None else index[str(v)] for v in cells]
            columns.append(Column(col.name, col.kind, categories))
        else:
            raw[:, j] = [np.nan if v is None else float(v) for v in cells]
            columns.append(col)
    return raw, TableSpec(tuple(columns))


def _pixels(example_id: str, data: bytes, spec: ImageSpec) -> np.ndarray:
    """One stored image prepared by ``spec`` (uint8 (H, W) or (H, W, 3))."""
    image, _ = decode_image(data, name=f"example {example_id[:12]}")
    return prepare_with(image, spec).pixels


def snapshot_for(
    project: Project, ref: str = "HEAD", *, steps: bool | None = None, progress: bool = True
) -> tuple[Version, Snapshot]:
    """Check out a data version (HEAD by default) for a stage that needs the arrays.

    ``ref`` may be a run's data version, ``<id>+<step>...`` when data steps made it; the
    declared steps run (cached) when ``steps`` is True, or by default when ``ref`` says so.
    """
    repo = DataRepo.open(project)
    try:
        if repo.head() is None:
            raise DataError(
                "the project has no data version yet; run `dlstack data ingest` "
                "and `dlstack data commit -m MSG` (or `dlstack run`)"
            )
        version, snapshot = repo.checkout(ref.split("+", 1)[0], progress=progress)
        if steps if steps is not None else "+" in ref:
            snapshot, _ = repo.run_steps(snapshot, project)
        return version, snapshot
    finally:
        repo.close()


@dataclass(frozen=True)
class Integrity:
    """What `dlstack data verify` found (and, with ``repaired``, removed)."""

    objects: int
    damaged_objects: list[str]
    versions_affected: list[str]
    snapshots: int
    damaged_snapshots: list[tuple[Path, str]]
    repaired: bool

    @property
    def ok(self) -> bool:
        return not self.damaged_objects and not self.damaged_snapshots


def _example(kind: str, row: Any) -> tuple[str, str, str]:
    key, label_a, split_a, label_b, split_b = row
    if kind == "added":
        return key, "", f"{label_b} ({split_b})"
    if kind == "removed":
        return key, f"{label_a} ({split_a})", ""
    if kind == "relabeled":
        return key, label_a, label_b
    return key, split_a, split_b


def _content_hash(rows: Sequence[Any]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r.example_id}\t{r.label}\t{r.split}\n".encode())
    return h.hexdigest()


def _version(row: Any) -> Version:
    created = row.created_at
    if created.tzinfo is None:  # sqlite drops the zone; we always store UTC
        created = created.replace(tzinfo=UTC)
    return Version(
        id=row.id,
        seq=row.seq,
        parent=row.parent,
        message=row.message,
        author=row.author,
        created_at=created,
        content_hash=row.content_hash,
        n_examples=row.n_examples,
        classes=tuple(row.classes),
        counts=dict(row.counts),
    )


def _literal(value: str) -> Any:
    from sqlalchemy import literal

    return literal(value)


def _author() -> str:
    try:
        return os.environ.get("DLSTACK_AUTHOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
