"""Reading a line: a sequence of frame scores per image, trained with CTC.

The model's output for a batch of N line images is logits (N, T, K+1): T frames along
the line (left to right), and per frame one score for the CTC *blank* (index 0) and one
per character of the alphabet (index i: ``classes[i - 1]``). Batch first, like every
other task's output, so ONNX and serving see one layout; the loss transposes it to the
(T, N, K+1) that ``torch.nn.functional.ctc_loss`` takes.

Targets are the characters' codes, 0-padded (``dlstack.targets.ctc_codes``): a line's
length is its count of non-zero codes. Images of a batch are padded on the right to the
widest line with the background; every frame counts in the loss (the model learns that
padding reads as blanks), so a line is read the same alone or in a padded batch.

>>> task = CtcTask()
>>> logits = torch.full((1, 4, 3), -5.0); logits[0, [0, 1], 1] = 5.0; logits[0, 3, 2] = 5.0
>>> task.predictions(logits).tolist()
[[1, 2, 0, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.text import CharErrorRate

from dlstack.errors import ModelError
from dlstack.targets import BLANK, ctc_text, softmax
from dlstack.train._tasks import Task

__all__ = ["CtcTask", "greedy_codes"]

# Training metrics see codes, not the alphabet: each code becomes one private-use
# character, so a CER over them equals the CER over the real characters.
_CODE_BASE = 0xE000


def greedy_codes(outputs: Tensor) -> Tensor:
    """Best-path decoding on the model's device: (N, T, K+1) -> (N, T) codes, each line's
    characters first (repeats merged, blanks dropped), then 0s."""
    best = outputs.argmax(dim=-1)  # (N, T)
    keep = best != BLANK
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    out = torch.zeros_like(best)
    for row in range(best.shape[0]):
        chars = best[row][keep[row]]
        out[row, : len(chars)] = chars
    return out


def _as_text(codes: Tensor) -> list[str]:
    return ["".join(chr(_CODE_BASE + int(c)) for c in row if int(c) > 0) for row in codes]


class CtcTask(Task):
    """CTC loss on log-softmax frames; greedy decoding; scored by character error rate."""

    name = "ctc"
    output_kind = "logits (N, T, K+1): per frame the blank (0) and each character"
    monitor = "val_cer"
    monitor_mode = "min"

    def targets(self, labels: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))  # (N, L) codes

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        log_probs = F.log_softmax(outputs.float(), dim=-1).transpose(0, 1)  # (T, N, K+1)
        frames, batch = log_probs.shape[:2]
        input_lengths = torch.full((batch,), frames, dtype=torch.long, device=outputs.device)
        target_lengths = (targets > 0).sum(dim=1)
        # zero_infinity: a line longer than the frames can hold (a model whose stride is
        # too coarse for it) adds nothing instead of an inf that poisons the whole batch.
        return F.ctc_loss(
            log_probs, targets, input_lengths, target_lengths, blank=BLANK, zero_infinity=True
        )

    def predictions(self, outputs: Tensor) -> Tensor:
        return greedy_codes(outputs)

    def error_rate(self, outputs: Tensor, targets: Tensor) -> float:
        """Character error rate: edits over the reference characters, over the batch."""
        from torchmetrics.functional.text import char_error_rate

        refs = _as_text(targets)
        if not any(refs):
            return float(any(_as_text(self.predictions(outputs))))
        return float(char_error_rate(_as_text(self.predictions(outputs)), refs))

    def make_metrics(self, num_classes: int) -> MetricCollection:
        return MetricCollection({"cer": CharErrorRate()})

    def update_metrics(self, metrics: MetricCollection, outputs: Tensor, targets: Tensor) -> None:
        metrics.update(_as_text(self.predictions(outputs)), _as_text(targets))

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        return softmax(outputs, axis=-1)  # (N, T, K+1) frame probabilities

    def values(
        self, outputs: np.ndarray, targets: np.ndarray, names: Sequence[str]
    ) -> dict[str, float]:
        from dlstack.metrics import transcription_metrics
        from dlstack.targets import decide_ctc

        read = [a.label for a in decide_ctc(self.scores(outputs), names)]
        truth = [ctc_text(row, names) for row in np.asarray(targets)]
        return transcription_metrics(truth, read).values(names)

    def check_outputs(self, outputs: Tensor, batch_size: int, num_classes: int) -> None:
        super().check_outputs(outputs, batch_size, num_classes)
        shape = tuple(outputs.shape)
        if len(shape) != 3 or shape[0] != batch_size or shape[2] != num_classes + 1:
            raise ModelError(
                f"the model's output for a batch of {batch_size} lines has shape {shape}, "
                f"expected ({batch_size}, T, {num_classes + 1}): T frames along the line, "
                f"each with a score for the CTC blank and each of the {num_classes} "
                f"characters; make the last layer output {num_classes + 1} values per frame"
            )
