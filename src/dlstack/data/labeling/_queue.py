"""The labeling queue: which example a person sees next.

Fed by ingest (examples that arrive without a label) and by serving ("this prediction is
wrong"). Order: highest priority first, then a seeded random order among equals. A
priority is the current model's uncertainty about the example once a model has scored
the queue (active learning: label what the model is least sure of), plus
``FEEDBACK_PRIORITY`` for examples users flagged. Without a model every item has priority
0 and the queue is a random sample, the same one for the same seed.

>>> probs = np.array([[0.98, 0.01, 0.01], [0.34, 0.33, 0.33]])
>>> uncertainty(probs).round(2).tolist()    # normalized entropy: 0 sure .. 1 clueless
[0.1, 1.0]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from dlstack.data._catalog import Catalog, examples, queue
from dlstack.data.labeling._common import (
    LabelingRules,
    NotFound,
    active_votes,
    annotations_t,
    as_utc,
    round_start,
    utcnow,
)
from dlstack.errors import DataError

__all__ = [
    "FEEDBACK_PRIORITY",
    "UNCERTAINTY_METHODS",
    "QueueItem",
    "enqueue",
    "enqueue_example",
    "next_items",
    "set_labels_needed",
    "set_priorities",
    "uncertainty",
]

# Uncertainty is normalized to [0, 1]; a prediction a user flagged as wrong ranks above any
# of them, because a known mistake teaches the model more than a guess about one.
FEEDBACK_PRIORITY = 2.0
SOURCES = ("ingest", "feedback", "manual", "gold", "import")
UNCERTAINTY_METHODS = ("entropy", "least_confident", "margin")
_CHUNK = 500  # ids per IN (...) clause; sqlite limits bound parameters


@dataclass(frozen=True)
class QueueItem:
    example_id: str
    source: str
    priority: float
    labels_needed: int
    labels: int  # labels (not skips) given in the current round
    added_at: datetime
    done: bool


def enqueue(
    catalog: Catalog,
    example_ids: Iterable[str],
    *,
    source: str,
    priority: float | None = None,
    labels_needed: int = 1,
    reopen: bool = False,
    conn: Connection | None = None,
) -> int:
    """Queue examples for labeling; returns how many were added (or re-opened).

    ``source``: one of ``SOURCES`` (ingest, feedback, manual, gold, import).
    ``priority``: None means "not scored" (0, or ``FEEDBACK_PRIORITY`` for feedback).
    An example already waiting keeps its place; it only gets the higher priority and the
    larger ``labels_needed`` of the two requests. A finished example stays finished unless
    ``reopen``: then it starts a new round, and its earlier answers no longer count.
    ``conn``: an open transaction to join (ingest queues in the one that adds the
    examples); by default enqueue runs in its own.

    >>> enqueue(catalog, unlabeled_ids, source="ingest")  # doctest: +SKIP
    >>> enqueue(catalog, [wrong_id], source="feedback")   # doctest: +SKIP
    """
    if source not in SOURCES:
        raise DataError(f"queue source {source!r} is not one of {', '.join(SOURCES)}")
    if not isinstance(labels_needed, int) or labels_needed < 1:
        raise DataError(f"labels_needed must be an integer >= 1, got {labels_needed!r}")
    if priority is not None and not math.isfinite(priority):
        raise DataError(f"priority must be a finite number, got {priority!r}")
    ids = list(dict.fromkeys(example_ids))
    base = priority if priority is not None else 0.0
    if source == "feedback" and priority is None:
        base = FEEDBACK_PRIORITY
    if conn is None:
        with catalog.begin() as own:
            return _enqueue(own, ids, source, priority, base, labels_needed, reopen)
    return _enqueue(conn, ids, source, priority, base, labels_needed, reopen)


def enqueue_example(
    catalog: Catalog,
    example_id: str,
    *,
    width: int,
    height: int,
    mode: str,
    origin: str,
    meta: Mapping[str, object],
    source: str = "feedback",
) -> bool:
    """Add an example the catalog does not know yet (stored bytes ``example_id``, e.g. a
    served input someone flagged) and queue it for labeling, in one transaction; True
    when it was queued (or re-queued)."""
    with catalog.begin() as conn:
        known = conn.execute(select(examples.c.id).where(examples.c.id == example_id)).first()
        if known is None:
            conn.execute(
                examples.insert(),
                {
                    "id": example_id,
                    "width": width,
                    "height": height,
                    "mode": mode,
                    "source": origin,
                    "meta": dict(meta),
                    "created_at": utcnow(),
                },
            )
        return enqueue(catalog, [example_id], source=source, conn=conn) > 0


def _enqueue(
    conn: Connection,
    ids: list[str],
    source: str,
    priority: float | None,
    base: float,
    labels_needed: int,
    reopen: bool,
) -> int:
    now = utcnow()
    changed = 0
    known: set[str] = set()
    existing = {}
    for chunk in _chunks(ids):
        known.update(conn.execute(select(examples.c.id).where(examples.c.id.in_(chunk))).scalars())
        existing.update(
            {
                r.example_id: r
                for r in conn.execute(queue.select().where(queue.c.example_id.in_(chunk)))
            }
        )
    missing = [i for i in ids if i not in known]
    if missing:
        raise NotFound(
            f"{len(missing)} example(s) are not in this project's catalog "
            f"(first: {missing[0][:12]}); store them with `dlstack data "
            f"ingest` before queueing them"
        )
    last_id = conn.execute(select(func.max(annotations_t.c.id))).scalar() or 0
    new_rows = []
    for example_id in ids:
        row = existing.get(example_id)
        if row is None:
            new_rows.append(
                {
                    "example_id": example_id,
                    "source": source,
                    "priority": base,
                    "labels_needed": labels_needed,
                    "added_at": now,
                    "done_at": None,
                    "meta": {},
                }
            )
            continue
        values: dict[str, object] = {
            "priority": max(row.priority, base)
            if priority is not None or source == "feedback"
            else row.priority,
            "labels_needed": max(row.labels_needed, labels_needed),
        }
        if source == "feedback" and row.source != "gold":
            values["source"] = "feedback"  # a known mistake outranks how it arrived
        if row.done_at is not None:
            if not reopen:
                continue
            meta = {k: v for k, v in (row.meta or {}).items() if k != "decision"}
            meta["after"] = last_id
            values.update(
                done_at=None,
                meta=meta,
                source=source,
                priority=base,
                labels_needed=labels_needed,
            )
            changed += 1
        conn.execute(queue.update().where(queue.c.example_id == example_id).values(**values))
    if new_rows:
        conn.execute(queue.insert(), new_rows)
    return changed + len(new_rows)


def set_priorities(catalog: Catalog, scores: Mapping[str, float]) -> int:
    """Rank waiting items by the model's uncertainty (from ``uncertainty()``).

    Feedback items keep ``FEEDBACK_PRIORITY`` on top of their score. Returns how many
    waiting items were updated; ids that are not waiting are ignored (finished items are
    not re-ranked).

    >>> set_priorities(catalog, dict(zip(ids, uncertainty(probs))))   # doctest: +SKIP
    """
    updated = 0
    with catalog.begin() as conn:
        items = list(scores.items())
        for start in range(0, len(items), _CHUNK):
            chunk = dict(items[start : start + _CHUNK])
            rows = conn.execute(
                select(queue.c.example_id, queue.c.source).where(
                    queue.c.example_id.in_(list(chunk)), queue.c.done_at.is_(None)
                )
            ).all()
            for r in rows:
                score = float(chunk[r.example_id])
                if not math.isfinite(score):
                    raise DataError(
                        f"uncertainty of {r.example_id[:12]} is {score}; "
                        f"scores must be finite numbers"
                    )
                boost = FEEDBACK_PRIORITY if r.source == "feedback" else 0.0
                conn.execute(
                    queue.update()
                    .where(queue.c.example_id == r.example_id)
                    .values(priority=score + boost)
                )
                updated += 1
    return updated


def set_labels_needed(
    catalog: Catalog, labels_needed: int, *, rules: LabelingRules | None = None
) -> int:
    """How many labelers each waiting (non-gold) item needs; returns how many changed.
    Items that now have enough agreeing labels are decided at once."""
    from dlstack.data.labeling._labels import settle

    if not isinstance(labels_needed, int) or labels_needed < 1:
        raise DataError(f"labels_needed must be an integer >= 1, got {labels_needed!r}")
    with catalog.begin() as conn:
        ids = list(
            conn.execute(
                select(queue.c.example_id).where(
                    queue.c.done_at.is_(None),
                    queue.c.source != "gold",
                    queue.c.labels_needed != labels_needed,
                )
            ).scalars()
        )
        for chunk in _chunks(ids):
            conn.execute(
                queue.update()
                .where(queue.c.example_id.in_(chunk))
                .values(labels_needed=labels_needed)
            )
        for example_id in ids:
            settle(conn, example_id, rules or LabelingRules())
    return len(ids)


def uncertainty(
    probs: np.ndarray,
    method: Literal["entropy", "least_confident", "margin"] = "entropy",
) -> np.ndarray:
    """Per-row uncertainty in [0, 1] from class probabilities (N, K), any model's.

    - ``entropy``: H(p) / log K (1 when every class is equally likely)
    - ``least_confident``: (1 - max p) * K / (K - 1)
    - ``margin``: 1 - (p_top1 - p_top2)
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise DataError(
            f"probabilities must have shape (N, K) with K >= 2 classes, got shape {p.shape}"
        )
    if not np.isfinite(p).all() or (p < 0).any() or np.abs(p.sum(axis=1) - 1).max(initial=0) > 1e-3:
        raise DataError(
            "probabilities must be finite, non-negative and sum to 1 per row; "
            "pass softmax outputs, not logits"
        )
    k = p.shape[1]
    if method == "entropy":
        logs = np.log(np.where(p > 0, p, 1.0))
        u = -(p * logs).sum(axis=1) / math.log(k)
    elif method == "least_confident":
        u = (1 - p.max(axis=1)) * k / (k - 1)
    elif method == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]  # (N, 2): runner-up, top
        u = 1 - (top2[:, 1] - top2[:, 0])
    else:
        raise DataError(
            f"uncertainty method {method!r} is not one of {', '.join(UNCERTAINTY_METHODS)}"
        )
    return np.clip(u, 0.0, 1.0)


def next_items(
    catalog: Catalog, user: str, *, limit: int = 10, seed: int = 0, exclude: Iterable[str] = ()
) -> list[QueueItem]:
    """What ``user`` should label next: waiting items they have not answered (labeled or
    skipped) in the current round, highest priority first, seeded random among equals.

    ``exclude``: ids the caller already holds (a page prefetching ahead).
    """
    skip = set(exclude)
    with catalog.connect() as conn:
        rows = conn.execute(
            select(
                queue.c.example_id,
                queue.c.source,
                queue.c.priority,
                queue.c.labels_needed,
                queue.c.added_at,
                queue.c.meta,
            ).where(queue.c.done_at.is_(None))
        ).all()
        answered: dict[str, int] = {}
        for r in conn.execute(
            select(annotations_t.c.example_id, annotations_t.c.id).where(
                annotations_t.c.user == user, annotations_t.c.retracted_at.is_(None)
            )
        ):
            answered[r.example_id] = max(r.id, answered.get(r.example_id, 0))
        eligible = [
            r
            for r in rows
            if r.example_id not in skip and answered.get(r.example_id, 0) <= round_start(r.meta)
        ]
        eligible.sort(key=lambda r: (-r.priority, _shuffle_key(seed, r.example_id)))
        picked = eligible[: max(0, limit)]
        votes = active_votes(conn, [r.example_id for r in picked])
    return [
        QueueItem(
            example_id=r.example_id,
            source=r.source,
            priority=r.priority,
            labels_needed=r.labels_needed,
            labels=sum(
                1
                for v in votes.get(r.example_id, {}).values()
                if v.label is not None and v.id > round_start(r.meta)
            ),
            added_at=as_utc(r.added_at),
            done=False,
        )
        for r in picked
    ]


def _shuffle_key(seed: int, example_id: str) -> str:
    return hashlib.sha256(f"queue:{seed}:{example_id}".encode()).hexdigest()


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
