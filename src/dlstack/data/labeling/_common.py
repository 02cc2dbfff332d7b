"""What the labeling modules share: rules, label checks, votes, consensus, staging.

Kept private: the public names are re-exported by ``dlstack.data.labeling``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from dlstack.config import DEFAULT_SPLIT
from dlstack.data import _catalog
from dlstack.data._catalog import queue, staged
from dlstack.data._splits import stream_split
from dlstack.errors import DataError

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data._catalog import Catalog

MAX_TEXT_LABEL = 256  # a transcription longer than this is a paste accident, not a line
CONSENSUS = "consensus"  # queue.meta["decision"]["by"] when agreeing labels decided


# catalog.py's `annotations` table shares its name with `from __future__ import annotations`,
# which mypy then types as the __future__ feature; look the table up by name instead.
annotations_t: Table = _catalog.metadata.tables["annotations"]


class InvalidLabel(DataError):
    """A label that is not allowed here; ``allowed`` lists what is (classification)."""

    def __init__(self, message: str, allowed: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.allowed = tuple(allowed)


class NotFound(DataError):
    """An example, queue item or user this catalog does not hold."""


@dataclass(frozen=True)
class LabelingRules:
    """How labels are checked and where agreed labels land.

    ``task``: "classification" (a label is one of the catalog's classes) or "ctc" (a label
    is a transcription). ``split``/``seed``: the project's ``data.split``/``data.seed``,
    which give each newly labeled example its split.

    >>> LabelingRules().task
    'classification'
    """

    task: Literal["classification", "multilabel", "regression", "ctc"] = "classification"
    split: tuple[float, float, float] = DEFAULT_SPLIT
    seed: int = 0

    @classmethod
    def from_project(cls, project: Project) -> LabelingRules:
        cfg = project.config
        return cls(task=cfg.project.task, split=cfg.data.split, seed=cfg.data.seed)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """sqlite drops the zone; everything is stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def classes_of(catalog: Catalog, conn: Connection) -> list[str]:
    return list(catalog.get_meta(conn, "classes") or [])


def check_label(
    label: str, rules: LabelingRules, classes: Sequence[str], vocabulary: str | None = None
) -> str:
    """The label, normalized, or InvalidLabel saying what is allowed."""
    if rules.task in ("multilabel", "regression"):
        from dlstack.errors import DataError
        from dlstack.targets import feedback_label

        try:  # "cat|dog" or a number, in the form the catalog stores
            return feedback_label(rules.task, label, classes)
        except DataError as e:
            raise InvalidLabel(str(e), list(classes)) from None
    if rules.task == "classification":
        if label in classes:
            return label
        if not classes:
            raise InvalidLabel(
                f"label {label!r} cannot be checked: the project declares no "
                f"classes yet; run `dlstack data ingest` first"
            )
        raise InvalidLabel(
            f"label {label!r} is not one of the classes: {', '.join(classes)}", classes
        )
    text = " ".join(label.split())  # transcriptions: one space between words, none around
    if not text:
        raise InvalidLabel("a transcription must not be empty; skip the example instead")
    if len(text) > MAX_TEXT_LABEL:
        raise InvalidLabel(
            f"a transcription has at most {MAX_TEXT_LABEL} characters, got {len(text)}"
        )
    bad = sorted(
        {
            c
            for c in text
            if (vocabulary and c not in vocabulary and c != " ") or not c.isprintable()
        }
    )
    if bad:
        allowed = f"; allowed: {vocabulary!r}" if vocabulary else ""
        raise InvalidLabel(
            f"transcription {text!r} has characters {''.join(bad)!r} that are not allowed{allowed}"
        )
    return text


def stage(conn: Connection, example_id: str, label: str, rules: LabelingRules) -> None:
    """Put a decided label into the working set; an already staged example keeps its split
    (moving it could leak it between splits)."""
    current = conn.execute(select(staged.c.split).where(staged.c.example_id == example_id)).scalar()
    if current is not None:
        conn.execute(staged.update().where(staged.c.example_id == example_id).values(label=label))
        return
    conn.execute(
        staged.insert().values(
            example_id=example_id,
            label=label,
            split=stream_split(example_id, rules.split, rules.seed),
        )
    )


def consensus(votes: Iterable[str], labels_needed: int) -> str | None:
    """The label that a majority of ``labels_needed`` agree on, or None.

    >>> consensus(["7", "7", "1"], 3), consensus(["7", "1"], 2), consensus(["3"], 1)
    ('7', None, '3')
    """
    counts = Counter(votes).most_common(2)
    if not counts:
        return None
    label, n = counts[0]
    runner_up = counts[1][1] if len(counts) > 1 else 0
    return label if n >= labels_needed // 2 + 1 and n > runner_up else None


@dataclass(frozen=True)
class Vote:
    id: int
    user: str
    label: str | None  # None: skipped
    created_at: datetime
    seconds: float | None


def active_votes(
    conn: Connection,
    example_ids: Iterable[str] | None = None,
) -> dict[str, dict[str, Vote]]:
    """example id -> user -> that user's latest answer not undone (labels and skips)."""
    q = (
        select(
            annotations_t.c.id,
            annotations_t.c.example_id,
            annotations_t.c.user,
            annotations_t.c.label,
            annotations_t.c.created_at,
            annotations_t.c.seconds,
        )
        .where(annotations_t.c.retracted_at.is_(None))
        .order_by(annotations_t.c.id)
    )
    if example_ids is not None:
        ids = list(example_ids)
        q = q.where(annotations_t.c.example_id.in_(ids))
    out: dict[str, dict[str, Vote]] = {}
    for r in conn.execute(q):
        out.setdefault(r.example_id, {})[r.user] = Vote(
            r.id, r.user, r.label, as_utc(r.created_at), r.seconds
        )
    return out


def round_start(meta: dict[str, Any] | None) -> int:
    """Annotations with an id above this count for the item's current round (re-opened
    items start a new round, so earlier answers don't close them again at once)."""
    return int((meta or {}).get("after", 0))


def queue_row(conn: Connection, example_id: str) -> Any:
    return conn.execute(queue.select().where(queue.c.example_id == example_id)).first()


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
)


def media_type(data: bytes) -> str:
    """The MIME type of stored image bytes, from their magic number."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return "application/octet-stream"


BROWSER_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp")
