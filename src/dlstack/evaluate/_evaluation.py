"""Run a trained model over one split of a snapshot and score it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dlstack.errors import DataError, ModelError
from dlstack.metrics import ClassificationMetrics, classification_metrics

if TYPE_CHECKING:
    import torch

    from dlstack.data import Snapshot
    from dlstack.train import Normalization

__all__ = ["DEFAULT_EVAL_BATCH_SIZE", "Evaluation", "evaluate"]

DEFAULT_EVAL_BATCH_SIZE = 256  # no gradients kept, so larger than training's 64 is cheap


@dataclass(frozen=True)
class Evaluation:
    """A model's predictions on one split, with their scores.

    Arrays are aligned: row ``i`` of ``targets``, ``predictions``, ``probabilities``,
    ``ids`` and ``images`` is the same example.
    """

    split: str
    data_version: str
    classes: tuple[str, ...]
    scores: ClassificationMetrics
    targets: np.ndarray  # int64 (n,)
    predictions: np.ndarray  # int64 (n,)
    probabilities: np.ndarray  # float32 (n, C), softmax of the logits
    ids: np.ndarray  # str (n,)
    images: np.ndarray  # uint8 (n, H, W), as stored: for showing mistakes
    seconds: float = 0.0

    @property
    def metrics(self) -> dict[str, float]:
        """accuracy, precision_macro, recall_macro, f1_macro, calibration_error."""
        return self.scores.summary()

    @property
    def confusion(self) -> np.ndarray:
        return self.scores.confusion

    @property
    def n(self) -> int:
        return self.scores.n

    @property
    def confidences(self) -> np.ndarray:
        """Probability of the predicted class, per example."""
        return self.probabilities[np.arange(self.n), self.predictions]

    def mistakes(self, limit: int | None = None) -> np.ndarray:
        """Indices of misclassified examples, most confident first (the most telling)."""
        wrong = np.flatnonzero(self.predictions != self.targets)
        order = np.argsort(-self.confidences[wrong], kind="stable")
        return wrong[order][:limit]


def evaluate(
    model: torch.nn.Module,
    snapshot: Snapshot,
    normalization: Normalization,
    *,
    split: str = "test",
    batch_size: int = DEFAULT_EVAL_BATCH_SIZE,
) -> Evaluation:
    """Predict every example of ``split`` and score the predictions.

    ``model`` takes what ``normalization.model_input`` makes (standardized images, or a
    table's encoded rows) and returns logits ``(N, num_classes)``; it is run in eval mode
    and left in the mode it came in.
    """
    import torch

    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}")
    arrays = snapshot.split(split)
    if len(arrays) == 0:
        raise DataError(
            f"split {split!r} of data version {snapshot.version} is empty; evaluate on "
            f"another split or re-split the data (counts: {snapshot.counts()})"
        )
    num_classes = snapshot.num_classes
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    chunks = []
    try:
        with torch.inference_mode():
            for i in range(0, len(arrays), batch_size):
                x = normalization.model_input(arrays.rows(i, i + batch_size))
                logits = model(torch.from_numpy(x).to(device))
                if logits.ndim != 2 or logits.shape[1] != num_classes:
                    raise ModelError(
                        f"the model returned shape {tuple(logits.shape)}, expected logits "
                        f"(batch, {num_classes}) for the {num_classes} classes of data "
                        f"version {snapshot.version}; was it trained on this data?"
                    )
                chunks.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    finally:
        model.train(was_training)
    probabilities = np.concatenate(chunks).astype(np.float32)
    predictions = probabilities.argmax(axis=1).astype(np.int64)
    targets = arrays.labels.astype(np.int64)
    scores = classification_metrics(targets, predictions, num_classes, probabilities)
    return Evaluation(
        split=split,
        data_version=snapshot.version,
        classes=tuple(snapshot.classes),
        scores=scores,
        targets=targets,
        predictions=predictions,
        probabilities=probabilities,
        ids=arrays.ids,
        images=arrays.images,
        seconds=time.perf_counter() - start,
    )
