"""The baselines of a line reader (ctc): what the model has to beat.

Both are fit on the train split and scored on the evaluation split with
:func:`dlstack.metrics.transcription_metrics`, like the model:

- ``most_frequent_line``: always reads the most frequent train line (the floor; its CER
  is about 1 on lines that rarely repeat).
- ``frame_classifier``: the line model's own CNN with a linear layer per frame and no
  LSTM (``dlstack.models.FrameClassifier``), trained with CTC for FRAME_STEPS steps: what
  local evidence alone reads, so the gap to the model is what the sequence context adds.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.evaluate._baseline_result import BaselineResult
from dlstack.metrics import transcription_metrics
from dlstack.targets import ctc_text

if TYPE_CHECKING:
    from dlstack.data import Snapshot, SplitArrays

__all__ = ["FRAME_BATCH", "FRAME_LR", "FRAME_STEPS", "ctc_baselines", "line_texts"]

# A short budget: the baseline's job is a fair floor, not a second model. 400 steps of 32
# lines (Adam 1e-3) is about half a minute on 2 CPU cores; on the builtin lines its CER
# stops improving much after that.
FRAME_STEPS = 400
FRAME_BATCH = 32
FRAME_LR = 1e-3
_EVAL_BATCH = 256


def line_texts(arrays: SplitArrays, alphabet: tuple[str, ...]) -> list[str]:
    """Each line's true text, from its stored codes."""
    codes = np.asarray(arrays.y)
    return [ctc_text(row, alphabet) for row in codes]


def ctc_baselines(
    snapshot: Snapshot, *, split: str = "test", seed: int = 0, neural_net: bool = True
) -> list[BaselineResult]:
    """most_frequent_line, and (``neural_net``) the frame classifier, scored on ``split``."""
    alphabet = tuple(snapshot.classes)
    train, target = snapshot.split("train"), snapshot.split(split)
    truth = line_texts(target, alphabet)
    start = time.perf_counter()
    counts = Counter(line_texts(train, alphabet))
    # Ties go to the line seen first in sorted order, so the baseline is deterministic.
    top, times = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out = [
        BaselineResult(
            "most_frequent_line",
            f"always reads the most frequent train line, {top!r} ({times} of {len(train)})",
            transcription_metrics(truth, [top] * len(truth)),
            time.perf_counter() - start,
        )
    ]
    if neural_net:
        out.append(_frame_classifier(snapshot, train, target, truth, seed))
    return out


def _frame_classifier(
    snapshot: Snapshot, train: SplitArrays, target: SplitArrays, truth: list[str], seed: int
) -> BaselineResult:
    import torch

    from dlstack.models import FrameClassifier, init_weights
    from dlstack.targets import decide_ctc, softmax
    from dlstack.train import CtcTask, Normalization, train_loop

    start = time.perf_counter()
    torch.manual_seed(seed)
    alphabet = tuple(snapshot.classes)
    normalization = Normalization.fit(train, None)
    shape = (snapshot.image_spec.channels, snapshot.image_spec.size[0], -1)
    model = init_weights(FrameClassifier(shape, len(alphabet)))
    task = CtcTask()
    rows = _LineRows(
        torch.from_numpy(normalization.model_input(train)),
        task.targets(np.asarray(train.y)),
        None if train.widths is None else torch.from_numpy(np.asarray(train.widths)),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=FRAME_LR)
    loop = train_loop(
        model, rows, task.loss, optimizer, batch_size=FRAME_BATCH, seed=seed, max_steps=FRAME_STEPS
    )
    model.eval()
    outputs = []
    with torch.inference_mode():
        for i in range(0, len(target), _EVAL_BATCH):
            x = torch.from_numpy(normalization.model_input(target.rows(i, i + _EVAL_BATCH)))
            outputs.append(model(x).float().numpy())
    read = [a.label for a in decide_ctc(softmax(np.concatenate(outputs), axis=-1), alphabet)]
    return BaselineResult(
        "frame_classifier",
        f"the model's CNN with a linear layer per frame and no LSTM (no context beyond "
        f"its receptive field), CTC, Adam {FRAME_LR:g}, {loop.steps} steps of {FRAME_BATCH}",
        transcription_metrics(truth, read),
        time.perf_counter() - start,
    )


class _LineRows:
    """Training rows for ``train_loop``; a batch is cut to its widest line (the rest is
    background in every row), as the trainer's batches are."""

    def __init__(self, inputs: Any, targets: Any, widths: Any) -> None:
        self.inputs, self.targets, self.widths = inputs, targets, widths

    def __len__(self) -> int:
        return len(self.targets)

    def take(self, rows: Any) -> tuple[Any, Any]:
        x = self.inputs[rows]
        if self.widths is not None and len(rows):
            widest = int(self.widths[rows].max())
            x = x[..., : min(x.shape[-1], -(-widest // 8) * 8)]
        return x, self.targets[rows]
