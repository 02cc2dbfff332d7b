"""The operating threshold of a binary (or one-vs-rest) decision, picked by the objective.

A classifier's scores become decisions at a threshold, and every threshold is a different
(precision, recall) trade-off: "the best recall at precision >= 0.9" is a point on the PR
curve. :func:`choose_threshold` scores every distinct threshold with the objective (the
metrics named in it refer to the positive class) and returns the winner, with the curve
to draw it on.

>>> import numpy as np
>>> from dlstack.objective import Objective
>>> y = np.array([0, 0, 1, 1, 1, 0, 1, 0])
>>> s = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2, 0.6, 0.7])
>>> choice = choose_threshold(y, s, Objective.parse("recall", ["precision >= 0.75"]))
>>> round(choice.threshold, 2), round(choice.metrics["recall"], 2), choice.score.feasible
(0.6, 0.75, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dlstack.errors import DataError
from dlstack.metrics import Curve, pr_curve, roc_curve

if TYPE_CHECKING:
    from dlstack.objective import Objective, Score

__all__ = ["ThresholdChoice", "choose_threshold", "threshold_metrics"]


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold, its metrics and score, and the curves it was chosen on."""

    positive: int  # class index taken as positive
    positive_label: str
    threshold: float  # predict positive when score >= threshold
    metrics: dict[str, float]  # precision, recall, f1, accuracy, fpr, specificity at it
    score: Score
    pr: Curve
    roc: Curve
    objective: str  # Objective.describe()

    @property
    def point(self) -> tuple[float, float]:
        """(recall, precision) of the chosen threshold: where it sits on the PR curve."""
        return self.metrics["recall"], self.metrics["precision"]


def threshold_metrics(roc: Curve, n_positive: int, n_negative: int) -> list[dict[str, float]]:
    """Precision, recall, F1, accuracy, FPR and specificity at every threshold of ``roc``.

    Counts follow from the ROC curve (torchmetrics): tp = TPR x P, fp = FPR x N. With no
    positive prediction, precision is taken as 1 (nothing claimed, nothing wrong).
    """
    n = n_positive + n_negative
    rows = []
    for fpr, tpr, t in zip(roc.x, roc.y, roc.thresholds, strict=True):
        tp, fp = tpr * n_positive, fpr * n_negative
        precision = tp / (tp + fp) if tp + fp > 0 else 1.0
        recall = float(tpr)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        rows.append(
            {
                "threshold": float(t),
                "precision": float(precision),
                "recall": recall,
                "f1": float(f1),
                "accuracy": float((tp + n_negative - fp) / n),
                "error": float(1 - (tp + n_negative - fp) / n),
                "fpr": float(fpr),
                "specificity": float(1 - fpr),
            }
        )
    return rows


def choose_threshold(
    targets: np.ndarray,
    scores: np.ndarray,
    objective: Objective,
    *,
    positive: int = 1,
    classes: tuple[str, ...] | list[str] | None = None,
    extra_metrics: dict[str, float] | None = None,
) -> ThresholdChoice:
    """Pick the threshold on ``scores`` that ranks best under ``objective``.

    ``scores``: the positive class's probability ``(n,)`` or class probabilities
    ``(n, C)``. ``extra_metrics`` (latency, size...) are the same at every threshold and let
    constraints on them be checked. Among equally good thresholds the highest wins (fewest
    positive predictions).
    """
    roc = roc_curve(targets, scores, positive)
    y = np.asarray(targets) == positive
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise DataError(
            f"choosing a threshold needs examples of the positive class {positive} and of "
            f"the rest; got {n_pos} positive and {n_neg} negative"
        )
    rows = threshold_metrics(roc, n_pos, n_neg)
    # ROC's first threshold is above every score (no positive prediction): not a choice.
    usable = [r for r in rows if np.isfinite(r["threshold"]) and r["threshold"] <= 1.0]
    usable = [r for r in usable if r["recall"] > 0 or len(usable) == 1] or rows
    extra = dict(extra_metrics or {})
    candidates = [(f"{r['threshold']:.6g}", {**extra, **r}) for r in usable]
    best = objective.best(candidates)
    label = str(classes[positive]) if classes is not None else str(positive)
    return ThresholdChoice(
        positive=positive,
        positive_label=label,
        threshold=float(best.metrics["threshold"]),
        metrics={k: float(v) for k, v in best.metrics.items()},
        score=best.score,
        pr=pr_curve(targets, scores, positive),
        roc=roc,
        objective=objective.describe(),
    )
