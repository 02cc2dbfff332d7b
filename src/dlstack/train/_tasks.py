"""What is being learned: the loss, the predictions, the metrics and how to pick a winner.

The LightningModule and ``fit`` talk to the task only through :class:`Task`, so a new kind
of problem (the planned "ctc" line reader: a sequence of log-probabilities per image,
trained with CTC and scored by character error rate) is a new subclass, not a rework.

Tasks: :class:`ClassificationTask` here, ``MultilabelTask`` (``_multilabel``) and
``RegressionTask`` (``_regression``); :func:`get_task` (``_task_registry``) names them.

>>> task = ClassificationTask()
>>> task.monitor, task.monitor_mode
('val_acc', 'max')
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from dlstack.errors import ModelError

__all__ = ["ClassificationTask", "Task", "check_shape"]


class Task(ABC):
    """The contract between a kind of problem and the training loop.

    ``make_metrics`` names metrics without a prefix ("acc"); the loop logs them as
    ``train_acc`` and ``val_acc`` next to ``train_loss`` and ``val_loss``. ``monitor`` is
    one of those logged names, and ``monitor_mode`` says whether higher ("max") or lower
    ("min") is better; the best checkpoint is picked with it.
    """

    name: ClassVar[str]
    # What the model's forward returns, e.g. "logits" (N, K) or "log_probs" (T, N, K).
    output_kind: ClassVar[str]
    monitor: ClassVar[str]
    monitor_mode: ClassVar[Literal["min", "max"]]

    @abstractmethod
    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """A scalar to minimize, averaged over the batch."""

    @abstractmethod
    def predictions(self, outputs: Tensor) -> Tensor:
        """The model's decision per example (class index, decoded sequence...)."""

    @abstractmethod
    def make_metrics(self, num_classes: int) -> MetricCollection:
        """Fresh metrics, updated with ``(predictions(outputs), targets)`` every batch."""

    @abstractmethod
    def error_rate(self, outputs: Tensor, targets: Tensor) -> float:
        """The share of examples the outputs get wrong (the practice's "error")."""

    def update_metrics(self, metrics: MetricCollection, outputs: Tensor, targets: Tensor) -> None:
        """Feed one batch to ``metrics``; override when targets need decoding first."""
        metrics.update(self.predictions(outputs), targets)

    def targets(self, labels: np.ndarray) -> Tensor:
        """Stored labels -> the target tensor ``loss`` expects."""
        return torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))

    def fit(self, train_targets: np.ndarray) -> None:
        """Learn what the targets need from the train split alone (a regression's mean
        and std); called before :meth:`targets`. Nothing to learn by default."""
        return None

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        """A batch of model outputs (numpy) -> what answers are read from: class
        probabilities (softmax here), or a regression's values in the target's units."""
        z = outputs.astype(np.float64) - outputs.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def values(
        self, outputs: np.ndarray, targets: np.ndarray, names: Sequence[str]
    ) -> dict[str, float]:
        """Every metric by name (``dlstack.metrics``) of model outputs against stored
        targets (``SplitArrays.y``): what an objective scores a checkpoint on."""
        from dlstack.metrics import classification_metrics

        probs = self.scores(outputs)
        y = np.asarray(targets, dtype=np.int64)
        predicted = probs.argmax(axis=1).astype(np.int64)
        return classification_metrics(y, predicted, len(names), probs).values(tuple(names))

    def check_outputs(self, outputs: Tensor, batch_size: int, num_classes: int) -> None:
        """Raise ModelError when a model's output cannot be what this task needs."""
        if not isinstance(outputs, Tensor):
            raise ModelError(
                f"the model returned {type(outputs).__name__}, expected a tensor of "
                f"{self.output_kind}; make forward() return a single tensor"
            )


class ClassificationTask(Task):
    """One label per example: cross-entropy on logits, scored by accuracy.

    >>> task = ClassificationTask()
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    >>> task.predictions(logits).tolist()
    [0, 1]
    """

    name = "classification"
    output_kind = "logits"
    monitor = "val_acc"
    monitor_mode = "max"

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(outputs, targets)  # outputs (N, K) logits, targets (N,)

    def predictions(self, outputs: Tensor) -> Tensor:
        return outputs.argmax(dim=-1)

    def error_rate(self, outputs: Tensor, targets: Tensor) -> float:
        return float((self.predictions(outputs) != targets).float().mean())

    def make_metrics(self, num_classes: int) -> MetricCollection:
        # validate_args=False: the per-batch input checks cost more than a small model's step.
        acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        return MetricCollection({"acc": acc})

    def check_outputs(self, outputs: Tensor, batch_size: int, num_classes: int) -> None:
        super().check_outputs(outputs, batch_size, num_classes)
        check_shape(outputs, batch_size, num_classes, "logits")


def check_shape(outputs: Tensor, batch_size: int, width: int, what: str) -> None:
    """ModelError unless ``outputs`` is (batch_size, width)."""
    expected = (batch_size, width)
    if tuple(outputs.shape) != expected:
        raise ModelError(
            f"the model's output for a batch of {batch_size} has shape "
            f"{tuple(outputs.shape)}, expected {what} of shape {expected}; make the last "
            f"layer output {width} values per example"
        )
