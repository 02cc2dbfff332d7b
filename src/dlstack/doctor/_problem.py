"""What is being learned: the loss, what it expects as input, and how errors are counted.

The doctor's verdicts need three facts about a loss that a callable does not tell:
what it expects (logits, log-probabilities, probabilities or plain values), the value a
uniform guess gets (``chance_loss``, ln C for cross-entropy) and the lowest value a
perfect fit can reach (``loss_floor``). They are known for torch's own losses and the
defaults; for any other callable they stay None and the checks that need them say so.

Conventions: classification targets are class indices (int64, (N,)) and outputs logits
(N, C); ``task="multilabel"`` targets are 0/1 per class (float, (N, C)) with one logit
per class (binary cross-entropy on each; an error is a wrong label decision);
``task="ctc"`` outputs are (T, N, C) or (N, T, C) per-step scores with blank 0, targets
(N, S) label sequences padded with 0, or ``(targets, lengths)``. Other targets that are a
tuple or dict of tensors need the user's loss; their kind is "structured": the
doctor cannot count errors for them, and judges by the loss alone where it can.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlstack.errors import ConfigError

__all__ = ["TASKS", "LossFn", "Problem", "ctc_pair", "loss_for", "make_problem"]

TASKS = ("classification", "multilabel", "ctc", "regression")
LossFn = Callable[[Tensor, Any], Tensor]


def cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    """The default classification loss: cross-entropy on logits (N, C) and indices (N,)."""
    return F.cross_entropy(output, target)


def ctc_log_probs(output: Tensor, batch: int) -> Tensor:
    """(T, N, C) log-probabilities from (T, N, C) or (N, T, C) scores."""
    if output.ndim != 3:
        raise ValueError(
            f"CTC output must be 3-D (T, N, C) or (N, T, C), got {tuple(output.shape)}"
        )
    if output.shape[1] != batch and output.shape[0] == batch:
        output = output.transpose(0, 1)
    return output.float().log_softmax(-1)  # idempotent on log-probabilities


def ctc(output: Tensor, target: Any) -> Tensor:
    """The default ``task="ctc"`` loss: CTC with blank 0, targets padded with 0, or
    ``(targets, lengths)``."""
    if ctc_pair(target):
        target, target_lengths = target
    else:
        target_lengths = (target != 0).sum(1)
    log_probs = ctc_log_probs(output, target.shape[0])  # (T, N, C)
    t, n = log_probs.shape[0], log_probs.shape[1]
    input_lengths = torch.full((n,), t, dtype=torch.long)
    # zero_infinity, as dlstack train's CTC loss: a line longer than the frames can hold
    # adds nothing instead of an inf that poisons the batch (ctc-too-few-frames names it).
    return F.ctc_loss(
        log_probs, target.long(), input_lengths, target_lengths, blank=0, zero_infinity=True
    )


@dataclass
class Problem:
    """The task as the doctor understands it, decided from the loss and the first outputs."""

    task: str
    kind: str  # multiclass | binary | soft | regression | ctc | structured
    loss_fn: LossFn
    loss_name: str
    user_loss: bool
    expects: str  # logits | log-probs | probabilities | values | unknown
    num_classes: int | None
    chance_loss: float | None  # the loss of a uniform guess
    loss_floor: float | None  # the loss of a perfect fit
    target_mean: Tensor | None = None  # regression: the mean-predictor baseline

    @property
    def is_classification(self) -> bool:
        return self.kind in ("multiclass", "binary", "soft")

    @property
    def metric(self) -> str:
        """What an error rate is for this task, in tables and messages."""
        return "CER" if self.kind == "ctc" else "error"

    @property
    def counts_errors(self) -> bool:
        """False for structured targets: no error rate, only the loss."""
        return self.kind != "structured"

    def counts(self, output: Tensor, target: Any) -> tuple[float, float]:
        """(errors, total) on one batch; their ratio is the error rate (NaN when the
        targets are structured)."""
        if self.kind == "structured":
            return math.nan, 1.0
        if self.kind == "ctc":
            return _ctc_counts(output, target)
        if self.kind == "multiclass":
            wrong = output.argmax(1) != target
            return float(wrong.sum()), float(wrong.numel())
        if self.kind == "soft":
            wrong = output.argmax(1) != target.argmax(1)
            return float(wrong.sum()), float(wrong.numel())
        if self.kind == "binary":
            out = output.reshape(target.shape) if output.numel() == target.numel() else output
            threshold = 0.5 if self.expects == "probabilities" else 0.0
            wrong = (out > threshold) != (target > 0.5)
            return float(wrong.sum()), float(wrong.numel())
        loss = float(self.loss_fn(output, target))  # regression: loss relative to the mean
        ref = float(self.loss_fn(self._mean_prediction(output), target))
        n = float(target.shape[0])
        return loss * n, max(ref, 1e-12) * n

    def _mean_prediction(self, output: Tensor) -> Tensor:
        mean = self.target_mean if self.target_mean is not None else torch.zeros(())
        mean = mean.to(output.dtype)
        try:
            return torch.broadcast_to(mean, output.shape).clone()
        except RuntimeError:
            return torch.full_like(output, float(mean.mean()))


def loss_for(task: str, loss_fn: LossFn | None) -> tuple[LossFn, str, bool]:
    """The loss to use: the user's, or the task's default. Returns (fn, name, user_given)."""
    if task not in TASKS:
        raise ConfigError(
            f"task must be one of {', '.join(repr(t) for t in TASKS)}, got "
            f'{task!r}; use task="classification" for class indices'
        )
    if loss_fn is not None:
        if not callable(loss_fn):
            raise ConfigError(
                f"loss_fn must be callable (output, target) -> loss, got {type(loss_fn).__name__}"
            )
        return loss_fn, _name(loss_fn), True
    if task == "ctc":
        return ctc, "CTC (default)", False
    if task == "regression":
        return F.mse_loss, "mean squared error (default)", False
    if task == "multilabel":
        bce = F.binary_cross_entropy_with_logits
        return bce, "binary cross-entropy with logits (default)", False
    return cross_entropy, "cross-entropy (default)", False


def make_problem(
    task: str, loss_fn: LossFn, name: str, user: bool, output: Tensor, target: Any
) -> Problem:
    """Decide the kind of problem and the loss's facts from one batch's output and target."""
    expects, floor = _loss_facts(loss_fn)
    if task == "ctc" and (isinstance(target, Tensor) or ctc_pair(target)):
        c = int(output.shape[-1])
        return Problem(task, "ctc", loss_fn, name, user, expects or "logits", c, None, 0.0)
    if not isinstance(target, Tensor):
        return Problem(
            task, "structured", loss_fn, name, user, expects or "unknown", None, None, floor
        )
    # A set of classes: each class is a yes/no decision (errors counted per decision).
    kind, c = ("binary", 2) if task == "multilabel" else _kind(task, output, target)
    if kind == "regression":
        mean = target.float().mean(0) if target.is_floating_point() else None
        return Problem(
            task, kind, loss_fn, name, user, expects or "values", None, None, floor, mean
        )
    chance = None
    if expects in ("logits", "log-probs") and not _has_class_weights(loss_fn):
        chance = math.log(2) if kind == "binary" else math.log(c)
    if kind == "soft":
        floor = None  # the entropy of the soft targets, not zero
    return Problem(task, kind, loss_fn, name, user, expects or "unknown", c, chance, floor)


def _kind(task: str, output: Tensor, target: Tensor) -> tuple[str, int]:
    if task == "regression":
        return "regression", 0
    single = output.ndim == 1 or (output.ndim >= 2 and output.shape[1] == 1)
    if not target.is_floating_point():
        return ("binary", 2) if single else ("multiclass", int(output.shape[1]))
    values = target.unique()
    if (
        target.shape == output.shape
        and output.ndim == 2
        and output.shape[1] >= 2
        and bool((target >= 0).all())
        and bool(torch.allclose(target.sum(1), torch.ones(1), atol=1e-3))
    ):
        return "soft", int(output.shape[1])
    if values.numel() <= 2 and bool(((values == 0) | (values == 1)).all()):
        return "binary", 2
    return "regression", 0


# torch losses whose input we know: what they expect, and their value at a perfect fit.
_KNOWN: dict[object, tuple[str, float]] = {
    nn.CrossEntropyLoss: ("logits", 0.0),
    F.cross_entropy: ("logits", 0.0),
    cross_entropy: ("logits", 0.0),
    nn.NLLLoss: ("log-probs", 0.0),
    F.nll_loss: ("log-probs", 0.0),
    nn.BCEWithLogitsLoss: ("logits", 0.0),
    F.binary_cross_entropy_with_logits: ("logits", 0.0),
    nn.BCELoss: ("probabilities", 0.0),
    F.binary_cross_entropy: ("probabilities", 0.0),
    nn.CTCLoss: ("log-probs", 0.0),
    ctc: ("logits", 0.0),
    nn.MSELoss: ("values", 0.0),
    F.mse_loss: ("values", 0.0),
    nn.L1Loss: ("values", 0.0),
    F.l1_loss: ("values", 0.0),
    nn.SmoothL1Loss: ("values", 0.0),
    F.smooth_l1_loss: ("values", 0.0),
    nn.HuberLoss: ("values", 0.0),
    F.huber_loss: ("values", 0.0),
}


def _loss_facts(loss_fn: LossFn) -> tuple[str | None, float | None]:
    key: object = type(loss_fn) if isinstance(loss_fn, nn.Module) else _unwrap(loss_fn)
    if key not in _KNOWN:
        return None, None
    expects, floor = _KNOWN[key]
    smoothing = float(getattr(loss_fn, "label_smoothing", 0.0) or 0.0)
    return expects, (None if smoothing > 0 else floor)


def _has_class_weights(loss_fn: LossFn) -> bool:
    return getattr(loss_fn, "weight", None) is not None


def _unwrap(fn: object) -> object:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _name(fn: object) -> str:
    if isinstance(fn, nn.Module):
        return type(fn).__name__
    fn = _unwrap(fn)
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def ctc_pair(target: Any) -> bool:
    """``(targets, lengths)``: (N, S) padded label sequences and their (N,) lengths."""
    return (
        isinstance(target, (tuple, list))
        and len(target) == 2
        and all(isinstance(t, Tensor) for t in target)
        and target[0].ndim == 2
        and target[1].ndim == 1
        and not target[1].is_floating_point()
    )


def _ctc_counts(output: Tensor, target: Any) -> tuple[float, float]:
    """Greedy decoding (collapse repeats, drop blanks) scored by character edit distance."""
    if ctc_pair(target):
        labels, lengths = target
        truths = [row[: int(n)] for row, n in zip(labels.tolist(), lengths.tolist(), strict=True)]
    else:
        truths = [[t for t in row if t != 0] for row in target.tolist()]
    best = ctc_log_probs(output, len(truths)).argmax(-1).T  # (N, T)
    errors = total = 0
    for path, ref in zip(best.tolist(), truths, strict=True):
        decoded = [p for i, p in enumerate(path) if p != 0 and (i == 0 or p != path[i - 1])]
        errors += _edit_distance(decoded, ref)
        total += len(ref)
    return float(errors), float(max(total, 1))


def _edit_distance(a: list[int], b: list[int]) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]
