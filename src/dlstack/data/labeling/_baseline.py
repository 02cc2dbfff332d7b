"""Gold examples and the human baseline.

A gold example has a known answer. It sits in the queue like any other (labelers are not
told), stays there until every labeler has met it, and each labeler's answers to gold
examples measure that labeler's error. Pooled over labelers this is the **human
baseline** reports show next to the model ("How to create good human baselines"): what
error people make on this data, and so roughly how far below it a model can go before
label noise, not the model, is the limit.

>>> sample_gold(catalog, 50, created_by="ada")    # doctest: +SKIP
>>> human_baseline(catalog).error_rate             # doctest: +SKIP
0.034
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from dlstack.data._catalog import Catalog, examples, gold, queue, staged
from dlstack.data.labeling._common import (
    LabelingRules,
    NotFound,
    active_votes,
    annotations_t,
    check_label,
    classes_of,
    stage,
    utcnow,
)
from dlstack.errors import DataError

__all__ = [
    "HumanBaseline",
    "LabelerScore",
    "add_gold",
    "human_baseline",
    "list_gold",
    "remove_gold",
    "sample_gold",
]


@dataclass(frozen=True)
class LabelerScore:
    user: str
    answers: int  # gold examples this labeler labeled
    errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.answers


@dataclass(frozen=True)
class HumanBaseline:
    """People's error on gold examples: pooled over every answer, and per labeler."""

    error_rate: float  # wrong answers / answers, all labelers pooled
    n_answers: int
    n_gold: int  # gold examples answered at least once
    per_labeler: dict[str, LabelerScore]

    @property
    def accuracy(self) -> float:
        return 1.0 - self.error_rate

    @property
    def best_error_rate(self) -> float:
        """The best labeler's error: the practice's proxy for expert-level performance."""
        return min(s.error_rate for s in self.per_labeler.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "error_rate": self.error_rate,
            "accuracy": self.accuracy,
            "best_error_rate": self.best_error_rate,
            "n_answers": self.n_answers,
            "n_gold": self.n_gold,
            "per_labeler": {
                u: {"answers": s.answers, "errors": s.errors, "error_rate": s.error_rate}
                for u, s in self.per_labeler.items()
            },
        }


def human_baseline(catalog: Catalog) -> HumanBaseline | None:
    """The human baseline from answers to gold examples; None until there is one answer.

    Skips are not errors (a person may rightly refuse an unreadable digit); undone answers
    don't count; each labeler's latest answer per example does.
    """
    with catalog.connect() as conn:
        known = {
            r.example_id: r.label for r in conn.execute(select(gold.c.example_id, gold.c.label))
        }
        votes = active_votes(conn, list(known)) if known else {}
    tally: dict[str, list[int]] = {}  # user -> [answers, errors]
    answered = set()
    for example_id, per_user in votes.items():
        for user, vote in per_user.items():
            if vote.label is None:
                continue
            answered.add(example_id)
            counts = tally.setdefault(user, [0, 0])
            counts[0] += 1
            counts[1] += vote.label != known[example_id]
    if not tally:
        return None
    n = sum(a for a, _ in tally.values())
    wrong = sum(e for _, e in tally.values())
    return HumanBaseline(
        error_rate=wrong / n,
        n_answers=n,
        n_gold=len(answered),
        per_labeler={u: LabelerScore(u, a, e) for u, (a, e) in sorted(tally.items())},
    )


def add_gold(
    catalog: Catalog,
    answers: Mapping[str, str],
    *,
    created_by: str,
    rules: LabelingRules | None = None,
) -> int:
    """Make examples gold with their known answers; they are staged with that answer and
    queued for every labeler. Returns how many were added or changed."""
    rules = rules or LabelingRules()
    now = utcnow()
    with catalog.begin() as conn:
        classes = classes_of(catalog, conn)
        vocabulary = catalog.get_meta(conn, "vocabulary")
        checked = {
            eid: check_label(label, rules, classes, vocabulary) for eid, label in answers.items()
        }
        known = set(
            conn.execute(select(examples.c.id).where(examples.c.id.in_(list(checked)))).scalars()
        )
        missing = [eid for eid in checked if eid not in known]
        if missing:
            raise NotFound(f"gold example {missing[0][:12]} is not in this project's catalog")
        for example_id, label in checked.items():
            conn.execute(gold.delete().where(gold.c.example_id == example_id))
            conn.execute(
                gold.insert().values(
                    example_id=example_id, label=label, created_by=created_by, created_at=now
                )
            )
            stage(conn, example_id, label, rules)
            item = conn.execute(
                select(queue.c.meta).where(queue.c.example_id == example_id)
            ).first()
            if item is None:
                conn.execute(
                    queue.insert().values(
                        example_id=example_id,
                        source="gold",
                        priority=0.0,
                        labels_needed=1,
                        added_at=now,
                        done_at=None,
                        meta={},
                    )
                )
            else:
                meta = {k: v for k, v in (item.meta or {}).items() if k != "decision"}
                conn.execute(
                    queue.update()
                    .where(queue.c.example_id == example_id)
                    .values(source="gold", done_at=None, meta=meta)
                )
    return len(checked)


def remove_gold(catalog: Catalog, example_ids: Iterable[str]) -> int:
    """Stop using examples as gold; their staged label (the known answer) stays."""
    ids = list(example_ids)
    now = utcnow()
    with catalog.begin() as conn:
        removed = conn.execute(gold.delete().where(gold.c.example_id.in_(ids))).rowcount
        conn.execute(
            queue.update()
            .where(queue.c.example_id.in_(ids), queue.c.source == "gold")
            .values(source="manual", done_at=now)
        )
    return int(removed or 0)


def list_gold(catalog: Catalog) -> dict[str, str]:
    """example id -> known answer."""
    with catalog.connect() as conn:
        return {
            r.example_id: r.label
            for r in conn.execute(
                select(gold.c.example_id, gold.c.label).order_by(gold.c.example_id)
            )
        }


def sample_gold(
    catalog: Catalog,
    n: int,
    *,
    created_by: str,
    seed: int = 0,
    split: str | None = None,
    rules: LabelingRules | None = None,
) -> list[str]:
    """Make ``n`` already labeled (staged) examples gold, picked at random by ``seed``
    (optionally from one split): labels a team trusts become the yardstick for people.

    Only examples labeled outside this queue (at ingest, by import as staged) qualify;
    an example our labelers answered would measure them against themselves.
    """
    if n < 1:
        raise DataError(f"n must be >= 1, got {n}")
    with catalog.connect() as conn:
        q = select(staged.c.example_id, staged.c.label).where(
            staged.c.example_id.not_in(select(gold.c.example_id)),
            # Not labels our labelers made: measuring them against their own answers
            # would report a baseline that is too good.
            staged.c.example_id.not_in(select(annotations_t.c.example_id)),
        )
        if split is not None:
            q = q.where(staged.c.split == split)
        rows = list(conn.execute(q).all())
    if not rows:
        raise DataError(
            "no example left to make gold: gold needs staged labels that did not come from "
            "this queue's labelers (ingest labeled data, or add known answers one by one)"
        )
    rows.sort(key=lambda r: hashlib.sha256(f"gold:{seed}:{r.example_id}".encode()).hexdigest())
    picked = {r.example_id: r.label for r in rows[:n]}
    add_gold(catalog, picked, created_by=created_by, rules=rules)
    return list(picked)
