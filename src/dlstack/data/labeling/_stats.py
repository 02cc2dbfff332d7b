"""Progress of the labeling effort, with agreement and the human baseline in one place.

What ``dlstack label stats`` prints and the admin page shows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from dlstack.data._catalog import Catalog, queue
from dlstack.data.labeling._agreement import Agreement, agreement
from dlstack.data.labeling._baseline import HumanBaseline, human_baseline
from dlstack.data.labeling._common import annotations_t

__all__ = ["LabelerProgress", "LabelingStats", "Progress", "labeling_stats", "progress"]


@dataclass(frozen=True)
class LabelerProgress:
    user: str
    labels: int
    skips: int
    undone: int
    median_seconds: float | None


@dataclass(frozen=True)
class Progress:
    waiting: int  # queue items not yet decided (gold excluded)
    done: int
    gold: int
    by_source: dict[str, int] = field(default_factory=dict)  # all items, by where they came from
    labelers: list[LabelerProgress] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "waiting": self.waiting,
            "done": self.done,
            "gold": self.gold,
            "by_source": self.by_source,
            "labelers": [vars(p) for p in self.labelers],
        }


@dataclass(frozen=True)
class LabelingStats:
    progress: Progress
    agreement: Agreement
    baseline: HumanBaseline | None

    def to_dict(self) -> dict[str, object]:
        return {
            "progress": self.progress.to_dict(),
            "agreement": self.agreement.to_dict(),
            "human_baseline": self.baseline.to_dict() if self.baseline else None,
        }


def progress(catalog: Catalog) -> Progress:
    with catalog.connect() as conn:
        items = conn.execute(select(queue.c.source, queue.c.done_at)).all()
        answers = conn.execute(
            select(
                annotations_t.c.user,
                annotations_t.c.label,
                annotations_t.c.retracted_at,
                annotations_t.c.seconds,
            )
        ).all()
    gold = sum(1 for r in items if r.source == "gold")
    done = sum(1 for r in items if r.done_at is not None)
    per_user: dict[str, list[float]] = {}
    labels: Counter[str] = Counter()
    skips: Counter[str] = Counter()
    undone: Counter[str] = Counter()
    for a in answers:
        if a.retracted_at is not None:
            undone[a.user] += 1
            continue
        (labels if a.label is not None else skips)[a.user] += 1
        if a.seconds is not None:
            per_user.setdefault(a.user, []).append(a.seconds)
    users = sorted(set(labels) | set(skips) | set(undone))
    return Progress(
        waiting=len(items) - done - gold,
        done=done,
        gold=gold,
        by_source=dict(sorted(Counter(r.source for r in items).items())),
        labelers=[
            LabelerProgress(
                u,
                labels[u],
                skips[u],
                undone[u],
                float(np.median(per_user[u])) if u in per_user else None,
            )
            for u in users
        ],
    )


def labeling_stats(catalog: Catalog) -> LabelingStats:
    return LabelingStats(progress(catalog), agreement(catalog), human_baseline(catalog))
