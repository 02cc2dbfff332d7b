"""Run a trained model over one split of a snapshot and score it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dlstack.errors import DataError, ModelError
from dlstack.inputs import map_input
from dlstack.metrics import (
    ClassificationMetrics,
    MultilabelMetrics,
    RegressionMetrics,
    TranscriptionMetrics,
    classification_metrics,
    multilabel_metrics,
    regression_metrics,
)
from dlstack.targets import sigmoid

if TYPE_CHECKING:
    import torch

    from dlstack.data import Snapshot
    from dlstack.train import Normalization

__all__ = ["DEFAULT_EVAL_BATCH_SIZE", "Evaluation", "evaluate", "evaluation_of"]

DEFAULT_EVAL_BATCH_SIZE = 256  # no gradients kept, so larger than training's 64 is cheap


@dataclass(frozen=True)
class Evaluation:
    """A model's predictions on one split, with their scores.

    Arrays are aligned: row ``i`` of ``targets``, ``predictions``, ``probabilities``,
    ``ids`` and ``images`` is the same example. Per task: classification holds class
    indices (n,) and softmax probabilities (n, C); multilabel 0/1 per class (n, C) and
    each class's sigmoid; regression the numbers (n, T) in the target's units (its
    ``probabilities`` are the predicted numbers too) and ``classes`` are the targets;
    ctc (lines) the character codes (n, L) of the true and the read lines (greedy
    decoding), the frame probabilities (n, T, K+1), ``classes`` the alphabet, and the
    texts themselves in ``references`` and ``transcripts``.
    """

    split: str
    data_version: str
    classes: tuple[str, ...]
    scores: ClassificationMetrics | MultilabelMetrics | RegressionMetrics | TranscriptionMetrics
    targets: np.ndarray  # int64 (n,); float32 (n, C) or (n, T); ctc: int64 (n, L) codes
    predictions: np.ndarray  # int64 (n,); float32 (n, C) 0/1 or (n, T) numbers; ctc: codes
    probabilities: np.ndarray  # float32 (n, C): softmax or sigmoid; regression: numbers
    ids: np.ndarray  # str (n,)
    images: np.ndarray  # uint8 (n, H, W), as stored: for showing mistakes
    seconds: float = 0.0
    task: str = "classification"
    references: tuple[str, ...] = ()  # ctc: each true line
    transcripts: tuple[str, ...] = ()  # ctc: each line as read
    line_confidences: np.ndarray | None = None  # ctc: float (n,), the least sure character

    @property
    def metrics(self) -> dict[str, float]:
        """accuracy, precision_macro, recall_macro, f1_macro, calibration_error."""
        return self.scores.summary()

    @property
    def confusion(self) -> np.ndarray:
        """Classification's confusion matrix (DataError for another task)."""
        if not isinstance(self.scores, ClassificationMetrics):
            raise DataError(f"a {self.task} evaluation has no confusion matrix")
        return self.scores.confusion

    @property
    def n(self) -> int:
        return self.scores.n

    @property
    def confidences(self) -> np.ndarray:
        """Probability of the predicted class, per example; multilabel: of the least sure
        decision; regression: NaN (a number has no confidence); ctc: the line's least
        sure character."""
        if self.line_confidences is not None:
            return self.line_confidences
        if self.task == "regression":
            return np.full(self.n, np.nan)
        if self.task == "multilabel":
            p = self.probabilities
            return np.where(self.predictions > 0, p, 1.0 - p).min(axis=1)
        return self.probabilities[np.arange(self.n), self.predictions]

    def mistakes(self, limit: int | None = None) -> np.ndarray:
        """Indices of the worst answers first: misclassified examples, most confident
        first (the most telling); multilabel: any wrong decision; regression: the
        largest errors (relative to each target's spread); ctc: lines read wrong."""
        if self.task == "ctc":
            wrong = np.flatnonzero(
                [r != t for r, t in zip(self.transcripts, self.references, strict=True)]
            )
            order = np.argsort(-self.confidences[wrong], kind="stable")
            return wrong[order][:limit]
        if self.task == "regression":
            spread = np.where(self.targets.std(axis=0) > 0, self.targets.std(axis=0), 1.0)
            error = (np.abs(self.predictions - self.targets) / spread).max(axis=1)
            return np.argsort(-error, kind="stable")[:limit]
        if self.task == "multilabel":
            wrong = np.flatnonzero((self.predictions != self.targets).any(axis=1))
        else:
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
                logits = model(map_input(lambda a: torch.from_numpy(a).to(device), x))
                if snapshot.task == "ctc":
                    _check_frames(logits, num_classes, snapshot.version)
                elif logits.ndim != 2 or logits.shape[1] != num_classes:
                    what = "values" if snapshot.task == "regression" else "logits"
                    raise ModelError(
                        f"the model returned shape {tuple(logits.shape)}, expected {what} "
                        f"(batch, {num_classes}) for the {num_classes} "
                        f"{'targets' if what == 'values' else 'classes'} of data "
                        f"version {snapshot.version}; was it trained on this data?"
                    )
                chunks.append(logits.float().cpu().numpy())
    finally:
        model.train(was_training)
    return evaluation_of(
        snapshot.task,
        np.concatenate(chunks),
        arrays.y,
        split=split,
        data_version=snapshot.version,
        classes=tuple(snapshot.classes),
        ids=arrays.ids,
        images=arrays.images,
        seconds=time.perf_counter() - start,
    )


def evaluation_of(
    task: str,
    outputs: np.ndarray,
    targets: np.ndarray,
    *,
    split: str,
    data_version: str,
    classes: tuple[str, ...],
    ids: np.ndarray,
    images: np.ndarray,
    seconds: float = 0.0,
    thresholds: np.ndarray | None = None,
) -> Evaluation:
    """An Evaluation from a model's raw outputs (logits; a regression's numbers) and the
    stored targets (``SplitArrays.y``), scored by the task's metrics."""
    if task == "ctc":
        return _ctc_evaluation(
            outputs,
            targets,
            split=split,
            data_version=data_version,
            classes=classes,
            ids=ids,
            images=images,
            seconds=seconds,
        )
    out = np.asarray(outputs, dtype=np.float64)
    scores: ClassificationMetrics | MultilabelMetrics | RegressionMetrics
    if task == "regression":
        y = np.asarray(targets, dtype=np.float32).reshape(len(out), -1)
        probabilities = out.astype(np.float32)
        predictions = probabilities
        scores = regression_metrics(y, probabilities)
    elif task == "multilabel":
        y = np.asarray(targets, dtype=np.float32)
        probabilities = sigmoid(out)
        cut = np.full(len(classes), 0.5) if thresholds is None else np.asarray(thresholds)
        predictions = (probabilities >= cut).astype(np.float32)
        scores = multilabel_metrics(y, probabilities, cut)
    else:
        import torch

        logits = torch.from_numpy(np.ascontiguousarray(outputs, dtype=np.float32))
        probabilities = torch.softmax(logits, dim=1).numpy().astype(np.float32)
        predictions = probabilities.argmax(axis=1).astype(np.int64)
        y = np.asarray(targets).astype(np.int64)
        scores = classification_metrics(y, predictions, len(classes), probabilities)
    return Evaluation(
        split=split,
        data_version=data_version,
        classes=classes,
        scores=scores,
        targets=y,
        predictions=predictions,
        probabilities=probabilities,
        ids=ids,
        images=images,
        seconds=seconds,
        task=task,
    )


def _check_frames(logits: torch.Tensor, num_classes: int, version: str) -> None:
    if logits.ndim != 3 or logits.shape[2] != num_classes + 1:
        raise ModelError(
            f"the model returned shape {tuple(logits.shape)}, expected frame logits "
            f"(batch, T, {num_classes + 1}) for the blank and the {num_classes} characters "
            f"of data version {version}; was it trained on this data?"
        )


def _ctc_evaluation(
    outputs: np.ndarray,
    targets: np.ndarray,
    *,
    split: str,
    data_version: str,
    classes: tuple[str, ...],
    ids: np.ndarray,
    images: np.ndarray,
    seconds: float,
) -> Evaluation:
    """Greedy-decoded lines (what serving answers by default) scored against the truth."""
    from dlstack.metrics import transcription_metrics
    from dlstack.targets import ctc_codes, ctc_text, decide_ctc, softmax

    probabilities = softmax(np.asarray(outputs, dtype=np.float32), axis=-1).astype(np.float32)
    answers = decide_ctc(probabilities, classes)
    transcripts = tuple(a.label for a in answers)
    y = np.asarray(targets).astype(np.int64)
    references = tuple(ctc_text(row, classes) for row in y)
    return Evaluation(
        split=split,
        data_version=data_version,
        classes=classes,
        scores=transcription_metrics(references, transcripts),
        targets=y,
        predictions=ctc_codes(list(transcripts), classes),
        probabilities=probabilities,
        ids=ids,
        images=images,
        seconds=seconds,
        task="ctc",
        references=references,
        transcripts=transcripts,
        line_confidences=np.array([a.confidence for a in answers], dtype=np.float64),
    )
