"""`dlstack data status`: the working set against HEAD, the task and the image input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from dlstack.data._catalog import staged
from dlstack.data._line_source import LINES_META
from dlstack.data._splits import SPLITS
from dlstack.data._versions import DataRepo, Version, _content_hash
from dlstack.errors import DataError

__all__ = ["DataStatus", "data_status"]


@dataclass(frozen=True)
class DataStatus:
    head: Version | None
    staged: dict[str, int]  # examples per split in the working set
    uncommitted: bool  # the working set differs from HEAD
    task: str
    input: str  # the image input checkout applies, in words ("" for a table)
    classes: tuple[str, ...]  # the classes (a ctc task: the alphabet) ingest recorded
    composed_with: dict[str, Any] | None  # builtin:lines settings of the working set


def data_status(repo: DataRepo) -> DataStatus:
    with repo.catalog.connect() as conn:
        rows = conn.execute(
            select(staged.c.example_id, staged.c.label, staged.c.split).order_by(
                staged.c.example_id
            )
        ).all()
        classes = tuple(repo.catalog.get_meta(conn, "classes") or ())
        composed = repo.catalog.get_meta(conn, LINES_META)
    head = repo.head()
    try:
        described = repo.image_spec().describe() if repo.table_spec() is None else ""
    except DataError:
        described = "not known yet (ingest some data, or declare [data.image])"
    counts = {s: sum(1 for r in rows if r.split == s) for s in SPLITS}
    uncommitted = bool(rows) and (head is None or head.content_hash != _content_hash(rows))
    return DataStatus(head, counts, uncommitted, repo.task(), described, classes, composed or None)
