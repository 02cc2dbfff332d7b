"""Answers: label, skip, undo, and the rules that turn answers into a staged label.

Every answer is a row in ``annotations`` with who and when (and how long it took); undo
marks it retracted and keeps it. An example is decided when a majority of its
``labels_needed`` labelers agree (consensus), or when a reviewer decides it. Its label then
goes into ``staged`` (the working set the next ``dlstack data commit`` records) and its
queue item is done. An undo that breaks a consensus takes the label back out and puts the
example back in the queue, restoring whatever label was staged before. So does a late
answer that disagrees (someone had the example on screen when it was decided): the
example is disputed again until a majority or a reviewer settles it. A reviewer's
decision stands; later answers only inform agreement.

>>> record_label(catalog, example_id, "ada", "7", seconds=1.2)   # doctest: +SKIP
>>> undo_last(catalog, "ada")                                    # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from dlstack.data._catalog import Catalog, gold, queue, staged, users
from dlstack.data.labeling._common import (
    CONSENSUS,
    LabelingRules,
    NotFound,
    active_votes,
    annotations_t,
    as_utc,
    check_label,
    classes_of,
    consensus,
    queue_row,
    round_start,
    stage,
    utcnow,
)
from dlstack.errors import DataError

__all__ = ["Annotation", "Disputed", "decide", "disputed", "record_label", "undo_last"]

MAX_SECONDS = 3600.0  # longer than this, the person walked away; keep the row, cap the time


@dataclass(frozen=True)
class Annotation:
    id: int
    example_id: str
    user: str
    label: str | None  # None: skipped
    created_at: datetime
    seconds: float | None


@dataclass(frozen=True)
class Disputed:
    """A waiting example whose labels reached ``labels_needed`` without a majority."""

    example_id: str
    labels_needed: int
    votes: dict[str, int]  # label -> how many labelers gave it


def record_label(
    catalog: Catalog,
    example_id: str,
    user: str,
    label: str | None,
    *,
    seconds: float | None = None,
    rules: LabelingRules | None = None,
) -> Annotation:
    """Record ``user``'s answer (``label=None`` skips) and decide the example if it can be.

    A second answer by the same user to the same example replaces the first (which stays
    in the history, retracted).
    """
    rules = rules or LabelingRules()
    now = utcnow()
    with catalog.begin() as conn:
        item = queue_row(conn, example_id)
        if item is None:
            raise NotFound(f"example {example_id[:12]} is not in the labeling queue")
        _active_user(conn, user)
        if label is not None:
            label = check_label(
                label, rules, classes_of(catalog, conn), catalog.get_meta(conn, "vocabulary")
            )
        conn.execute(
            annotations_t.update()
            .where(
                annotations_t.c.example_id == example_id,
                annotations_t.c.user == user,
                annotations_t.c.retracted_at.is_(None),
                annotations_t.c.id > round_start(item.meta),
            )
            .values(retracted_at=now)
        )
        result = conn.execute(
            annotations_t.insert().values(
                example_id=example_id,
                user=user,
                label=label,
                created_at=now,
                seconds=_seconds(seconds),
            )
        )
        key = result.inserted_primary_key
        annotation_id = int(key[0]) if key else 0
        settle(conn, example_id, rules)
    return Annotation(annotation_id, example_id, user, label, now, _seconds(seconds))


def undo_last(
    catalog: Catalog,
    user: str,
    *,
    rules: LabelingRules | None = None,
) -> Annotation | None:
    """Take back ``user``'s latest answer still standing; None when there is none."""
    rules = rules or LabelingRules()
    with catalog.begin() as conn:
        row = conn.execute(
            annotations_t.select()
            .where(annotations_t.c.user == user, annotations_t.c.retracted_at.is_(None))
            .order_by(annotations_t.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        conn.execute(
            annotations_t.update().where(annotations_t.c.id == row.id).values(retracted_at=utcnow())
        )
        settle(conn, row.example_id, rules)
    return Annotation(
        row.id, row.example_id, row.user, row.label, as_utc(row.created_at), row.seconds
    )


def decide(
    catalog: Catalog, example_id: str, label: str, *, user: str, rules: LabelingRules | None = None
) -> None:
    """A reviewer's (or admin's) decision: stage ``label`` whatever the votes say."""
    rules = rules or LabelingRules()
    now = utcnow()
    with catalog.begin() as conn:
        role = _active_user(conn, user)
        if role not in ("reviewer", "admin"):
            raise DataError(f"user {user!r} is a {role}; only reviewers and admins decide labels")
        if conn.execute(select(gold.c.example_id).where(gold.c.example_id == example_id)).first():
            raise DataError(
                f"example {example_id[:12]} is a gold example; change its known "
                f"answer in the gold list instead"
            )
        label = check_label(
            label, rules, classes_of(catalog, conn), catalog.get_meta(conn, "vocabulary")
        )
        item = queue_row(conn, example_id)
        if item is None:
            raise NotFound(f"example {example_id[:12]} is not in the labeling queue")
        meta = dict(item.meta or {})
        previous = meta.get("decision") or {}
        replaced = previous.get("replaced") if previous else _staged_label(conn, example_id)
        stage(conn, example_id, label, rules)
        meta["decision"] = {"by": user, "label": label, "at": now.isoformat(), "replaced": replaced}
        conn.execute(
            queue.update().where(queue.c.example_id == example_id).values(done_at=now, meta=meta)
        )


def disputed(catalog: Catalog, *, limit: int = 100) -> list[Disputed]:
    """Waiting examples whose labelers disagree (for reviewers), most votes first."""
    with catalog.connect() as conn:
        rows = conn.execute(
            queue.select().where(queue.c.done_at.is_(None), queue.c.source != "gold")
        ).all()
        votes = active_votes(conn, [r.example_id for r in rows])
    out = []
    for r in rows:
        labels = [
            v.label
            for v in votes.get(r.example_id, {}).values()
            if v.label is not None and v.id > round_start(r.meta)
        ]
        if len(labels) >= r.labels_needed:
            out.append(Disputed(r.example_id, r.labels_needed, dict(Counter(labels))))
    out.sort(key=lambda d: (-sum(d.votes.values()), d.example_id))
    return out[:limit]


def settle(conn: Connection, example_id: str, rules: LabelingRules) -> None:
    """Bring an example's queue item and staged label in line with its current answers."""
    item = queue_row(conn, example_id)
    if item is None or item.source == "gold":
        return  # gold: the answer is known; it stays open so every labeler meets it
    meta: dict[str, Any] = dict(item.meta or {})
    decision = meta.get("decision")
    if decision and decision.get("by") != CONSENSUS:
        return  # a reviewer decided; later answers inform agreement, not the label
    labels = [
        v.label
        for v in active_votes(conn, [example_id]).get(example_id, {}).values()
        if v.label is not None and v.id > round_start(meta)
    ]
    winner = consensus(labels, item.labels_needed)
    now = utcnow()
    if winner is not None:
        if decision and decision["label"] == winner and item.done_at is not None:
            return
        replaced = decision["replaced"] if decision else _staged_label(conn, example_id)
        stage(conn, example_id, winner, rules)
        meta["decision"] = {
            "by": CONSENSUS,
            "label": winner,
            "at": now.isoformat(),
            "replaced": replaced,
        }
        conn.execute(
            queue.update().where(queue.c.example_id == example_id).values(done_at=now, meta=meta)
        )
    elif decision:  # an undo broke the consensus: the label goes, the old one comes back
        if decision.get("replaced") is None:
            conn.execute(staged.delete().where(staged.c.example_id == example_id))
        else:
            conn.execute(
                staged.update()
                .where(staged.c.example_id == example_id)
                .values(label=decision["replaced"])
            )
        meta.pop("decision")
        conn.execute(
            queue.update().where(queue.c.example_id == example_id).values(done_at=None, meta=meta)
        )


def _active_user(conn: Connection, user: str) -> str:
    row = conn.execute(select(users.c.role, users.c.disabled).where(users.c.name == user)).first()
    if row is None:
        raise NotFound(f"no user {user!r}; create one with `dlstack label user add {user}`")
    if row.disabled:
        raise DataError(f"user {user!r} is disabled")
    return str(row.role)


def _staged_label(conn: Connection, example_id: str) -> str | None:
    value = conn.execute(select(staged.c.label).where(staged.c.example_id == example_id)).scalar()
    return None if value is None else str(value)


def _seconds(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return min(float(value), MAX_SECONDS)
