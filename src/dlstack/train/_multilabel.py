"""A set of classes per example: one logit per class, binary cross-entropy on each."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection

from dlstack.targets import sigmoid
from dlstack.train._tasks import Task, check_shape

__all__ = ["MultilabelTask", "tune_thresholds"]

DEFAULT_THRESHOLD = 0.5  # sigmoid(0): the decision before any tuning


class MultilabelTask(Task):
    """Targets 0/1 per class (N, C); BCE with logits; a class is given when its sigmoid
    reaches 0.5; scored by macro F1 during training.

    >>> task = MultilabelTask()
    >>> task.predictions(torch.tensor([[2.0, -1.0]])).tolist()
    [[1.0, 0.0]]
    """

    name = "multilabel"
    output_kind = "logits"
    monitor = "val_f1_macro"
    monitor_mode = "max"

    def targets(self, labels: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(labels, dtype=np.float32))  # (N, C)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(outputs, targets)

    def predictions(self, outputs: Tensor) -> Tensor:
        return (outputs >= 0).float()  # sigmoid(z) >= 0.5

    def error_rate(self, outputs: Tensor, targets: Tensor) -> float:
        """The share of wrong label decisions (Hamming loss)."""
        return float((self.predictions(outputs) != targets).float().mean())

    def make_metrics(self, num_classes: int) -> MetricCollection:
        from torchmetrics.classification import MultilabelF1Score

        f1 = MultilabelF1Score(num_classes, average="macro", validate_args=False)
        return MetricCollection({"f1_macro": f1})

    def update_metrics(self, metrics: MetricCollection, outputs: Tensor, targets: Tensor) -> None:
        metrics.update(self.predictions(outputs).long(), targets.long())

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        return sigmoid(outputs)

    def values(
        self, outputs: np.ndarray, targets: np.ndarray, names: Sequence[str]
    ) -> dict[str, float]:
        from dlstack.metrics import multilabel_metrics

        return multilabel_metrics(targets, self.scores(outputs)).values(tuple(names))

    def check_outputs(self, outputs: Tensor, batch_size: int, num_classes: int) -> None:
        super().check_outputs(outputs, batch_size, num_classes)
        check_shape(outputs, batch_size, num_classes, "one logit per class")


def tune_thresholds(scores: np.ndarray, targets: np.ndarray) -> list[float]:
    """Per class, the decision threshold that maximizes that class's F1 on these
    (validation) scores: a rare class's sigmoid seldom reaches 0.5, so one cut for every
    class under-predicts it. Ties, and a class without positives here, keep 0.5 (or the
    best candidate nearest it): a cut moves only when it scores strictly better.

    ``scores`` are sigmoid probabilities (N, C), ``targets`` 0/1 (N, C); the candidates
    are the scores themselves (torchmetrics' precision-recall curve), a class is given
    when its score reaches its threshold.

    >>> s = np.array([[0.125], [0.25], [0.375], [0.875]]); y = np.array([[0], [1], [1], [1]])
    >>> tune_thresholds(s, y)
    [0.25]
    """
    from torchmetrics.functional.classification import binary_precision_recall_curve

    s = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(targets)).long()
    chosen = []
    for c in range(s.shape[1]):
        if int(y[:, c].sum()) == 0:  # no positives: every cut has F1 0
            chosen.append(DEFAULT_THRESHOLD)
            continue
        precision, recall, cuts = binary_precision_recall_curve(s[:, c], y[:, c])
        p, r = precision[:-1].double(), recall[:-1].double()  # the last point has no cut
        f1 = torch.where(p + r > 0, 2 * p * r / (p + r), torch.zeros_like(p))
        half = _f1_at(s[:, c], y[:, c], DEFAULT_THRESHOLD)
        best = float(f1.max())
        if best <= half + 1e-12:
            chosen.append(DEFAULT_THRESHOLD)
            continue
        ties = cuts.double()[f1 >= best - 1e-12]
        chosen.append(float(ties[(ties - DEFAULT_THRESHOLD).abs().argmin()]))
    return chosen


def _f1_at(scores: Tensor, targets: Tensor, threshold: float) -> float:
    from torchmetrics.functional.classification import binary_f1_score

    return float(binary_f1_score(scores, targets, threshold=threshold, zero_division=0))
