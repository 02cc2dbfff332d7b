"""Classification metrics, computed by torchmetrics (we write none by hand).

One function, :func:`classification_metrics`, turns (targets, predictions[, probabilities])
into every number dlstack reports; the model's evaluation and the baselines go through it,
so they are comparable by construction.

Macro averages follow torchmetrics (and scikit-learn with its default ``labels=None``): a
class absent from both the targets and the predictions is left out of the average; a
class that occurs but is never predicted counts with precision 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlstack.errors import DataError

__all__ = ["CALIBRATION_BINS", "ClassificationMetrics", "classification_metrics"]

CALIBRATION_BINS = 15  # torchmetrics' default, the usual choice for expected calibration error


@dataclass(frozen=True)
class ClassificationMetrics:
    """Scores of one set of predictions against targets.

    ``confusion[i, j]`` counts examples of true class ``i`` predicted as ``j``.
    ``calibration_error`` (expected calibration error, L1, 15 bins) is set only when
    probabilities were given.
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
        return float(t.item())

    def per_class(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float64)

    calibration = None
    if probabilities is not None:
        probs = np.asarray(probabilities, dtype=np.float32)
        if probs.shape != (y.shape[0], c):
            raise DataError(
                f"probabilities must have shape (n, num_classes) = ({y.shape[0]}, {c}), "
                f"got {probs.shape}"
            )
        calibration = scalar(
            tmf.multiclass_calibration_error(
                torch.from_numpy(probs), t_y, c, n_bins=CALIBRATION_BINS, norm="l1"
            )
        )

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
    )


def _check_labels(what: str, a: np.ndarray, num_classes: int) -> None:
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"{what} must be a 1-D array of class indices, got {a.dtype} {a.shape}")
    if a.size and (a.min() < 0 or a.max() >= num_classes):
        raise DataError(
            f"{what} must be class indices in 0..{num_classes - 1}, got values "
            f"{int(a.min())}..{int(a.max())}"
        )
