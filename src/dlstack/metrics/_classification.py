"""Classification and transcription metrics, computed by torchmetrics (we write none by hand).

One function, :func:`classification_metrics`, turns (targets, predictions[, probabilities])
into every number dlstack reports; the model's evaluation and the baselines go through it,
so they are comparable by construction. :meth:`ClassificationMetrics.values` flattens them
into the names an objective or a test refers to (``recall``, ``f1_micro``, ``map``,
``recall[7]``...). :func:`pr_curve` and :func:`roc_curve` give one class's curves (one
vs rest). Line reading's metrics are ``dlstack.metrics._transcription``'s.

Macro averages follow torchmetrics (and scikit-learn with its default ``labels=None``): a
class absent from both the targets and the predictions is left out of the average; a
class that occurs but is never predicted counts with precision 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import DataError

if TYPE_CHECKING:
    import torch

__all__ = [
    "CALIBRATION_BINS",
    "METRIC_ALIASES",
    "ClassificationMetrics",
    "Curve",
    "as_printed",
    "classification_metrics",
    "pr_curve",
    "roc_curve",
]

CALIBRATION_BINS = 15  # torchmetrics' default, the usual choice for expected calibration error
# Short names people write in dlstack.toml for a multiclass task: the practice's "recall" of
# a many-class model is its macro recall (every class counts the same).
METRIC_ALIASES = {"precision": "precision_macro", "recall": "recall_macro", "f1": "f1_macro"}


@dataclass(frozen=True)
class ClassificationMetrics:
    """Scores of one set of predictions against targets.

    ``confusion[i, j]`` counts examples of true class ``i`` predicted as ``j``.
    ``calibration_error`` (expected calibration error, L1, 15 bins), ``average_precision``
    (per class, one vs rest), ``map`` (their mean over classes present) and
    ``auroc_macro`` are set only when probabilities were given.
    """

    n: int
    accuracy: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    precision: np.ndarray  # float64 (C,)
    recall: np.ndarray  # float64 (C,)
    f1: np.ndarray  # float64 (C,)
    support: np.ndarray  # int64 (C,), true examples per class
    confusion: np.ndarray  # int64 (C, C)
    calibration_error: float | None = None
    # Micro averages: for one label per example they equal accuracy; kept for the names.
    precision_micro: float | None = None
    recall_micro: float | None = None
    f1_micro: float | None = None
    average_precision: np.ndarray | None = None  # float64 (C,), NaN for an absent class
    map: float | None = None  # mean average precision over the classes present
    auroc_macro: float | None = None

    def summary(self) -> dict[str, float]:
        """The headline numbers as a flat dict (what trackers and model.json store)."""
        out = {
            "accuracy": self.accuracy,
            "precision_macro": self.precision_macro,
            "recall_macro": self.recall_macro,
            "f1_macro": self.f1_macro,
        }
        if self.calibration_error is not None:
            out["calibration_error"] = self.calibration_error
        return out

    def values(self, classes: tuple[str, ...] | list[str] | None = None) -> dict[str, float]:
        """Every number by the name an objective, a constraint or a test can use.

        Headline names (``accuracy``, ``error``, ``precision_macro``, ``f1_micro``, ``map``,
        ``auroc``, ``calibration_error``), the short aliases (``precision``, ``recall``,
        ``f1`` = macro), and per class ``precision[LABEL]``, ``recall[LABEL]``,
        ``f1[LABEL]``, ``ap[LABEL]`` (LABEL from ``classes``, else the class index).

        >>> m = classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
        >>> round(m.values(("cat", "dog"))["recall[dog]"], 2)
        0.5
        """
        out: dict[str, float] = {**self.summary(), "error": 1.0 - self.accuracy}
        for name in ("precision_micro", "recall_micro", "f1_micro", "map", "auroc_macro"):
            value = getattr(self, name)
            if value is not None:
                out[name] = float(value)
        if self.auroc_macro is not None:
            out["auroc"] = float(self.auroc_macro)
        for alias, name in METRIC_ALIASES.items():
            out[alias] = out[name]
        labels = [str(c) for c in classes] if classes is not None else None
        per_class = {"precision": self.precision, "recall": self.recall, "f1": self.f1}
        if self.average_precision is not None:
            per_class["ap"] = self.average_precision
        for i in range(len(self.support)):
            label = labels[i] if labels is not None and i < len(labels) else str(i)
            for name, array in per_class.items():
                out[f"{name}[{label}]"] = float(array[i])
        return out


def as_printed(value: float) -> float:
    """A float32 metric as the float64 of the shortest decimal that float32 prints as.

    torchmetrics computes in float32, where 9 of 10 right is 0.8999999762; compared with a
    threshold of 0.9 it would fail. The decimal it stands for is what a person reads and
    writes in dlstack.toml, so that is what is stored and compared.

    >>> float(np.float32(0.9)), as_printed(float(np.float32(0.9)))
    (0.8999999761581421, 0.9)
    """
    if not np.isfinite(value):
        return value
    return float(str(np.float32(value)))


def classification_metrics(
    targets: np.ndarray,
    predictions: np.ndarray,
    num_classes: int,
    probabilities: np.ndarray | None = None,
) -> ClassificationMetrics:
    """Accuracy, macro and per-class precision/recall/F1 and the confusion matrix.

    >>> m = classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]), num_classes=2)
    >>> round(m.accuracy, 3), m.confusion.tolist()
    (0.667, [[1, 0], [1, 1]])
    """
    import torch
    from torchmetrics.functional import classification as tmf

    y = np.asarray(targets)
    p = np.asarray(predictions)
    _check_labels("targets", y, num_classes)
    _check_labels("predictions", p, num_classes)
    if y.shape != p.shape:
        raise DataError(
            f"targets and predictions must have the same length, got {y.shape[0]} and {p.shape[0]}"
        )
    if y.size == 0:
        raise DataError("cannot compute metrics on an empty split; check the data version")
    t_y = torch.as_tensor(y, dtype=torch.int64)
    t_p = torch.as_tensor(p, dtype=torch.int64)
    c = num_classes

    def scalar(t: torch.Tensor) -> float:
        return as_printed(float(t.item()))

    def per_class(t: torch.Tensor) -> np.ndarray:
        return np.array([as_printed(float(v)) for v in t.detach().cpu().numpy().ravel()])

    calibration = mean_ap = auroc = None
    average_precision = None
    if probabilities is not None:
        probs = np.asarray(probabilities, dtype=np.float32)
        if probs.shape != (y.shape[0], c):
            raise DataError(
                f"probabilities must have shape (n, num_classes) = ({y.shape[0]}, {c}), "
                f"got {probs.shape}"
            )
        t_probs = torch.from_numpy(probs)
        calibration = scalar(
            tmf.multiclass_calibration_error(t_probs, t_y, c, n_bins=CALIBRATION_BINS, norm="l1")
        )
        average_precision, mean_ap, auroc = _ranking_metrics(t_probs, t_y, c)

    confusion = tmf.multiclass_confusion_matrix(t_p, t_y, c)
    return ClassificationMetrics(
        n=int(y.shape[0]),
        accuracy=scalar(tmf.multiclass_accuracy(t_p, t_y, c, average="micro")),
        precision_macro=scalar(tmf.multiclass_precision(t_p, t_y, c, average="macro")),
        recall_macro=scalar(tmf.multiclass_recall(t_p, t_y, c, average="macro")),
        f1_macro=scalar(tmf.multiclass_f1_score(t_p, t_y, c, average="macro")),
        precision=per_class(tmf.multiclass_precision(t_p, t_y, c, average="none")),
        recall=per_class(tmf.multiclass_recall(t_p, t_y, c, average="none")),
        f1=per_class(tmf.multiclass_f1_score(t_p, t_y, c, average="none")),
        support=np.bincount(y.astype(np.int64), minlength=c).astype(np.int64),
        confusion=confusion.cpu().numpy().astype(np.int64),
        calibration_error=calibration,
        precision_micro=scalar(tmf.multiclass_precision(t_p, t_y, c, average="micro")),
        recall_micro=scalar(tmf.multiclass_recall(t_p, t_y, c, average="micro")),
        f1_micro=scalar(tmf.multiclass_f1_score(t_p, t_y, c, average="micro")),
        average_precision=average_precision,
        map=mean_ap,
        auroc_macro=auroc,
    )


def _ranking_metrics(
    probs: torch.Tensor, targets: torch.Tensor, c: int
) -> tuple[np.ndarray, float | None, float | None]:
    """Per-class average precision, its mean over present classes (mAP), macro AUROC.

    A class with no true example has no precision-recall curve: its AP is NaN and it is left
    out of the mean (scikit-learn would warn and count it as 0). AUROC needs at least one
    example of each class, else it is None.
    """
    import warnings

    from torchmetrics.functional import classification as tmf

    present = np.bincount(targets.numpy(), minlength=c) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics warns about absent classes; handled
        ap = tmf.multiclass_average_precision(probs, targets, c, average="none")
    per_class = ap.detach().cpu().numpy().astype(np.float64)
    per_class[~present] = np.nan
    mean_ap = float(np.mean(per_class[present])) if present.any() else None
    auroc = None
    if present.all():
        auroc = as_printed(float(tmf.multiclass_auroc(probs, targets, c, average="macro").item()))
    return per_class, mean_ap, auroc


@dataclass(frozen=True)
class Curve:
    """One class's curve against the rest: ``x``, ``y`` and the score ``thresholds``.

    For a PR curve ``x`` is recall and ``y`` precision (``len(thresholds) + 1`` points, the
    last one at recall 0); for a ROC curve ``x`` is the false-positive rate and ``y`` the
    true-positive rate, with a first threshold above every score. An example is predicted
    positive when its score is ``>=`` the threshold.
    """

    kind: str  # "pr" or "roc"
    positive: int  # class index taken as positive
    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray
    area: float  # average precision (PR) or AUROC (ROC)


def pr_curve(targets: np.ndarray, scores: np.ndarray, positive: int = 1) -> Curve:
    """Precision-recall curve of class ``positive`` (one vs rest), with its average precision.

    ``scores`` is either the probability of the positive class ``(n,)`` or class
    probabilities ``(n, C)`` (column ``positive`` is used).

    >>> c = pr_curve(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.6]))
    >>> c.area
    1.0
    """
    import torch
    from torchmetrics.functional import classification as tmf

    y, s = _binary(targets, scores, positive)
    precision, recall, thresholds = tmf.binary_precision_recall_curve(s, y)
    area = tmf.binary_average_precision(s, y)
    return Curve(
        "pr",
        positive,
        recall.numpy().astype(np.float64),
        precision.numpy().astype(np.float64),
        thresholds.numpy().astype(np.float64),
        float(torch.nan_to_num(area).item()),
    )


def roc_curve(targets: np.ndarray, scores: np.ndarray, positive: int = 1) -> Curve:
    """ROC curve of class ``positive`` (one vs rest), with its area (AUROC).

    >>> c = roc_curve(np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.7, 0.75]))
    >>> round(c.area, 3)
    0.75
    """
    from torchmetrics.functional import classification as tmf

    y, s = _binary(targets, scores, positive)
    fpr, tpr, thresholds = tmf.binary_roc(s, y)
    area = tmf.binary_auroc(s, y)
    return Curve(
        "roc",
        positive,
        fpr.numpy().astype(np.float64),
        tpr.numpy().astype(np.float64),
        thresholds.numpy().astype(np.float64),
        float(area.item()),
    )


def _binary(targets: np.ndarray, scores: np.ndarray, positive: int) -> tuple[Any, Any]:
    import torch

    y = np.asarray(targets)
    s = np.asarray(scores, dtype=np.float32)
    if s.ndim == 2:
        if not 0 <= positive < s.shape[1]:
            raise DataError(
                f"positive class must be a column of the scores (0..{s.shape[1] - 1}), "
                f"got {positive}"
            )
        s = s[:, positive]
    if s.ndim != 1 or s.shape[0] != y.shape[0] or y.ndim != 1:
        raise DataError(
            f"targets (n,) and scores (n,) or (n, C) must have the same n, got targets "
            f"{y.shape} and scores {np.shape(scores)}"
        )
    if y.size == 0:
        raise DataError("cannot draw a curve from no examples; check the data version")
    if not np.isfinite(s).all():
        raise DataError("scores contain NaN or infinite values; check the model's outputs")
    is_positive = (y == positive).astype(np.int64)
    return torch.from_numpy(is_positive), torch.from_numpy(np.ascontiguousarray(s))


def _check_labels(what: str, a: np.ndarray, num_classes: int) -> None:
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"{what} must be a 1-D array of class indices, got {a.dtype} {a.shape}")
    if a.size and (a.min() < 0 or a.max() >= num_classes):
        raise DataError(
            f"{what} must be class indices in 0..{num_classes - 1}, got values "
            f"{int(a.min())}..{int(a.max())}"
        )
