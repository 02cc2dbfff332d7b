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

__all__ = ["MultilabelTask"]


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
