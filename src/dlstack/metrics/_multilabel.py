"""Multilabel metrics (per-class and macro F1, mAP, Hamming loss), computed by torchmetrics.

An example holds a set of classes: the targets are 0/1 per class (n, C), the model gives a
probability per class, and a class is predicted when its probability reaches its threshold
(0.5 unless the project tuned one per class). Macro averages count every class the same,
as scikit-learn's ``average="macro"`` does with ``zero_division=0``: a class never true and
never predicted has F1 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlstack.errors import DataError
from dlstack.metrics._classification import as_printed

__all__ = ["MultilabelMetrics", "multilabel_metrics"]

DEFAULT_THRESHOLD = 0.5  # dlstack.targets.DEFAULT_THRESHOLD (metrics sits below no kernel)


@dataclass(frozen=True)
class MultilabelMetrics:
    """Scores of per-class probabilities against 0/1 targets (n, C)."""

    n: int
    accuracy: float  # share of right label decisions (1 - hamming_loss)
    exact_match: float  # share of examples whose whole set is right (subset accuracy)
    hamming_loss: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    precision_micro: float
    recall_micro: float
    f1_micro: float
    precision: np.ndarray  # float64 (C,)
    recall: np.ndarray  # float64 (C,)
    f1: np.ndarray  # float64 (C,)
    support: np.ndarray  # int64 (C,): examples that hold the class
    average_precision: np.ndarray  # float64 (C,), NaN for a class no example holds
    map: float | None  # mean average precision over the classes present
    thresholds: np.ndarray  # float64 (C,)

    def summary(self) -> dict[str, float]:
        """The headline numbers (what trackers and model.json store)."""
        out = {
            "f1_macro": self.f1_macro,
            "f1_micro": self.f1_micro,
            "exact_match": self.exact_match,
            "hamming_loss": self.hamming_loss,
        }
        if self.map is not None:
            out["map"] = self.map
        return out

    def values(self, classes: Sequence[str] | None = None) -> dict[str, float]:
        """Every number by name: the headline ones, ``accuracy`` (of label decisions),
        ``error`` (= ``hamming_loss``), precision/recall macro and micro, the short aliases
        ``f1``, ``precision``, ``recall`` (macro), and per class ``f1[LABEL]``,
        ``precision[LABEL]``, ``recall[LABEL]``, ``ap[LABEL]``.

        >>> y = np.array([[1, 0], [1, 1]]); p = np.array([[0.9, 0.2], [0.8, 0.3]])
        >>> v = multilabel_metrics(y, p).values(["cat", "dog"])
        >>> v["f1[cat]"], v["recall[dog]"], v["error"]
        (1.0, 0.0, 0.25)
        """
        out: dict[str, float] = {
            **self.summary(),
            "accuracy": self.accuracy,
            "error": self.hamming_loss,
            "precision_macro": self.precision_macro,
            "recall_macro": self.recall_macro,
            "precision_micro": self.precision_micro,
            "recall_micro": self.recall_micro,
        }
        out["f1"], out["precision"], out["recall"] = (
            self.f1_macro,
            self.precision_macro,
            self.recall_macro,
        )
        labels = [str(c) for c in classes] if classes is not None else None
        per_class = {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "ap": self.average_precision,
        }
        for i in range(len(self.support)):
            label = labels[i] if labels is not None and i < len(labels) else str(i)
            for name, array in per_class.items():
                out[f"{name}[{label}]"] = float(array[i])
        return out


def multilabel_metrics(
    targets: np.ndarray,
    probabilities: np.ndarray,
    thresholds: Sequence[float] | np.ndarray | None = None,
) -> MultilabelMetrics:
    """Per-class and averaged precision/recall/F1, mAP and Hamming loss.

    >>> m = multilabel_metrics(np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.6], [0.2, 0.7]]))
    >>> m.f1.tolist(), m.hamming_loss, m.map
    ([1.0, 0.666...], 0.25, 1.0)
    """
    import torch
    from torchmetrics.functional import classification as tmf

    y = np.asarray(targets)
    p = np.asarray(probabilities, dtype=np.float32)
    if y.ndim != 2 or y.shape != p.shape:
        raise DataError(
            f"multilabel targets and probabilities must both be (n, classes), got "
            f"{y.shape} and {p.shape}"
        )
    n, c = y.shape
    if n == 0:
        raise DataError("cannot compute metrics on an empty split; check the data version")
    if not np.isin(y, (0, 1)).all():
        raise DataError("multilabel targets must be 0 or 1 per class")
    if not np.isfinite(p).all():
        raise DataError("probabilities contain NaN or infinite values; check the model")
    cut = np.full(c, DEFAULT_THRESHOLD) if thresholds is None else np.asarray(thresholds, float)
    if cut.shape != (c,):
        raise DataError(f"thresholds must be one per class ({c}), got {cut.shape}")
    decided = (p >= cut).astype(np.int64)  # 0/1 predictions: torchmetrics takes them as is
    t_y = torch.from_numpy(y.astype(np.int64))
    t_d = torch.from_numpy(decided)

    def stat(fn: object, average: str | None) -> object:
        return fn(t_d, t_y, c, average=average, zero_division=0)  # type: ignore[operator]

    def scalar(value: object) -> float:
        return as_printed(float(value))  # type: ignore[arg-type]

    def per_class(value: object) -> np.ndarray:
        return np.array([as_printed(float(v)) for v in value.numpy().ravel()])  # type: ignore[attr-defined]

    support = y.sum(axis=0).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics warns about classes without positives
        ap = tmf.multilabel_average_precision(torch.from_numpy(p), t_y, c, average="none")
    ap_per_class = ap.numpy().astype(np.float64)
    present = support > 0
    ap_per_class[~present] = np.nan
    wrong = float((decided != y).mean())
    return MultilabelMetrics(
        n=int(n),
        accuracy=1.0 - wrong,
        exact_match=float((decided == y).all(axis=1).mean()),
        hamming_loss=wrong,
        precision_macro=scalar(stat(tmf.multilabel_precision, "macro")),
        recall_macro=scalar(stat(tmf.multilabel_recall, "macro")),
        f1_macro=scalar(stat(tmf.multilabel_f1_score, "macro")),
        precision_micro=scalar(stat(tmf.multilabel_precision, "micro")),
        recall_micro=scalar(stat(tmf.multilabel_recall, "micro")),
        f1_micro=scalar(stat(tmf.multilabel_f1_score, "micro")),
        precision=per_class(stat(tmf.multilabel_precision, "none")),
        recall=per_class(stat(tmf.multilabel_recall, "none")),
        f1=per_class(stat(tmf.multilabel_f1_score, "none")),
        support=support,
        average_precision=ap_per_class,
        map=float(np.mean(ap_per_class[present])) if present.any() else None,
        thresholds=cut,
    )
