"""Findings: the fixed catalog of what the doctor can say, and the Finding record.

Every code belongs to one step of the practice's troubleshooting order (make it run,
check inputs and loss, overfit one batch, learning-rate range test, compare to a known
result, bias-variance, re-balance); the catalog holds each code's default severity, its
likely causes (from the practice's checklists) and the next step. A check fills in the
evidence (numbers) and may narrow the causes.

>>> f = make("bad-init-loss", "initial loss 41.2 is far above chance 2.30", {"loss": 41.2})
>>> f.severity, f.code
('warning', 'bad-init-loss')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CATALOG",
    "SEVERITIES",
    "STEPS",
    "CodeInfo",
    "Finding",
    "Severity",
    "make",
    "not_applicable",
    "sort_key",
]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

# The practice's order of work; a finding's step decides where it sits in the report.
STEPS = ("run", "inputs", "overfit", "lr", "baseline", "bias-variance", "rebalance")


@dataclass(frozen=True)
class CodeInfo:
    step: str
    severity: Severity
    title: str
    causes: tuple[str, ...]
    next_step: str


_LR_HIGH = "learning rate too high"
_DATA_BAD = "data or labels corrupted (zeroed, shuffled incorrectly, preprocessed wrongly)"

CATALOG: dict[str, CodeInfo] = {
    "wont-run": CodeInfo(
        "run",
        "error",
        "the model does not run",
        (
            "incorrect tensor shapes (a layer's input size, flipped dimensions, NHWC vs NCHW)",
            "casting issue: inputs or targets of the wrong dtype",
            "labels outside 0..num_classes-1, or a model with the wrong number of outputs",
            "gradients turned off (requires_grad=False, torch.no_grad, .detach())",
        ),
        "fix the layer named in the evidence: compare its input shape and dtype with what "
        "it expects, then rerun the doctor",
    ),
    "shape-broadcast": CodeInfo(
        "run",
        "error",
        "output and target shapes broadcast silently",
        (
            "the model returns (N, 1) while targets are (N,), or the reverse",
            "a missing squeeze/unsqueeze or a reduction over the wrong dimension",
        ),
        "make the model's output and the target the same shape (e.g. output.squeeze(1)) "
        "before the loss",
    ),
    "input-dtype": CodeInfo(
        "inputs",
        "warning",
        "inputs reach the model with the wrong dtype",
        (
            "images left as uint8 instead of float32",
            "numpy float64 arrays converted with torch.from_numpy without .float()",
            "class-index targets stored as floats",
        ),
        "convert inputs to float32 (and class targets to int64) in the data pipeline",
    ),
    "nan-inf": CodeInfo(
        "run",
        "error",
        "NaN or inf values",
        (
            "missing values (NaN) in the inputs",
            "numerical instability: exp overflows, log of zero or a negative, division by zero",
            "a hand-written softmax/log-softmax instead of the stable library functions",
            _LR_HIGH,
        ),
        "look at the place named in the evidence; use log_softmax/cross_entropy instead of "
        "log(softmax), clamp before log and sqrt, and add an epsilon to divisions",
    ),
    "input-scale": CodeInfo(
        "inputs",
        "warning",
        "inputs are not normalized",
        (
            "forgot to scale (pixels still 0..255) or to standardize",
            "preprocessing applied twice, or differently to train and validation data",
            "features on very different scales",
        ),
        "standardize inputs with the train split's mean and std (the same statistics for "
        "every split)",
    ),
    "softmax-before-loss": CodeInfo(
        "inputs",
        "error",
        "probabilities fed to a loss that expects logits",
        (
            "a softmax (or sigmoid) layer at the end of the model, and a loss that applies its "
            "own (log-)softmax",
        ),
        "remove the final softmax from the model and feed raw logits to the loss; apply "
        "softmax only when you need probabilities at prediction time",
    ),
    "train-eval-mode": CodeInfo(
        "inputs",
        "warning",
        "dropout or batch norm in the wrong mode",
        (
            "functional dropout without training=self.training (active at evaluation)",
            "batch norm without running statistics (evaluation depends on the batch)",
            "a layer switched to train() or eval() inside forward, or model.eval() left on",
            "batch-norm running statistics that never update (momentum 0) or are frozen",
        ),
        "use nn.Dropout/nn.BatchNorm modules (or pass training=self.training), and toggle "
        "model.train()/model.eval() only in the training loop",
    ),
    "no-grad-flow": CodeInfo(
        "inputs",
        "warning",
        "parameters that receive no gradient",
        (
            "a frozen layer (requires_grad=False) left from fine-tuning or a bug",
            ".detach(), torch.no_grad() or a non-differentiable op (argmax, round) in forward",
            "a layer defined but never used in forward",
            "dead ReLUs: units whose input is always negative (bad init or learning rate)",
        ),
        "make sure every layer you want to train is used in forward, requires grad and is "
        "connected to the loss",
    ),
    "bad-init-loss": CodeInfo(
        "inputs",
        "warning",
        "initial loss far from the chance value",
        (
            "unnormalized inputs that make the logits huge",
            "an output layer initialized with too large weights",
            "a loss that does not match the task",
        ),
        "initialize the last layer so that the first logits are small (initial loss about "
        "ln(num_classes)) and normalize the inputs",
    ),
    "ctc-too-few-frames": CodeInfo(
        "inputs",
        "error",
        "lines longer than the frames the model outputs for them",
        (
            "a model whose stride along the line is too coarse (too many width poolings)",
            "lines with more characters than their width gives frames (tiny glyphs, long "
            "strings); CTC needs a frame per character plus a blank between repeats",
        ),
        "give the model more frames per line (less width pooling, wider inputs) or cut the "
        "long lines: CTC needs T >= L + the repeated pairs of a line (T >= 2L+1 always "
        "suffices)",
    ),
    "overfit-error-up": CodeInfo(
        "overfit",
        "error",
        "overfitting one batch: the error goes up",
        (
            "flipped sign of the loss function or gradient",
            _LR_HIGH,
            "softmax taken over the wrong dimension",
        ),
        "check the sign of the loss and which dimension the softmax/loss reduces over, then "
        "lower the learning rate",
    ),
    "overfit-explodes": CodeInfo(
        "overfit",
        "error",
        "overfitting one batch: the error explodes",
        ("numerical issue: check every exp, log and division", _LR_HIGH),
        "find the first non-finite value (see nan-inf) and lower the learning rate",
    ),
    "overfit-oscillates": CodeInfo(
        "overfit",
        "error",
        "overfitting one batch: the error oscillates",
        (_DATA_BAD, _LR_HIGH),
        "check that the same examples always come with the same labels, then lower the "
        "learning rate",
    ),
    "overfit-plateau": CodeInfo(
        "overfit",
        "error",
        "overfitting one batch: the error plateaus",
        (
            "learning rate too low",
            "gradients not flowing through the whole model",
            "too much regularization",
            "incorrect input to the loss function (softmax instead of logits, a ReLU or "
            "sigmoid on the output)",
            _DATA_BAD,
            "a model too small to memorize a batch",
        ),
        "raise the learning rate, remove regularization, check the loss input and that "
        "every layer gets gradients",
    ),
    "ctc-blank-plateau": CodeInfo(
        "overfit",
        "warning",
        "CTC blank plateau: the model reads only blanks while its loss still falls",
        (
            "the known start of CTC training: the model first learns to output the blank "
            "everywhere (greedy decoding reads empty lines, CER 100%) and leaves the "
            "plateau after some hundreds of steps",
            "a learning rate too low to leave the plateau soon",
            "too few frames per character (see ctc-too-few-frames)",
        ),
        "train longer (the plateau typically ends after some hundreds of steps), try a "
        "higher learning rate, and check that lines have enough frames (T >= 2L+1 for "
        "repeated characters)",
    ),
    "lr-too-high": CodeInfo(
        "lr",
        "warning",
        "learning rate too high",
        ("a learning rate past the point where the loss starts to diverge",),
        "use the learning rate suggested by the range test (evidence)",
    ),
    "lr-too-low": CodeInfo(
        "lr",
        "warning",
        "learning rate too low",
        ("a learning rate orders of magnitude below where the loss starts to fall",),
        "use the learning rate suggested by the range test (evidence)",
    ),
    "worse-than-baseline": CodeInfo(
        "baseline",
        "warning",
        "no better than a simple baseline",
        (
            "a bug in the model or in evaluation (see the other findings)",
            "labels unrelated to the inputs (shuffled or corrupted)",
            "a model that memorizes instead of generalizing",
            "too short a training (rerun with a larger budget)",
        ),
        "debug until the model beats the majority-class and linear baselines on the same "
        "data; compare against a known result",
    ),
    "label-noise": CodeInfo(
        "baseline",
        "warning",
        "labels the model contradicts with high confidence",
        (
            "labels shuffled or misaligned with their inputs",
            "annotation mistakes",
            "labels that change between two reads of the same example",
        ),
        "look at the listed examples; fix or drop mislabeled ones (cleanlab automates this)",
    ),
    "underfitting": CodeInfo(
        "bias-variance",
        "warning",
        "under-fitting (high bias)",
        (
            "model too small",
            "too much regularization",
            "training too short",
            "a learning rate far from the best one",
        ),
        "make the model bigger, reduce regularization, do error analysis, try a stronger "
        "architecture, tune hyperparameters, add features",
    ),
    "overfitting": CodeInfo(
        "bias-variance",
        "warning",
        "over-fitting (high variance)",
        (
            "too little training data for the model's size",
            "no regularization",
            "no data augmentation",
        ),
        "add training data, add normalization (batch/layer norm), data augmentation, "
        "regularization (dropout, weight decay), do error analysis, early stopping, "
        "a smaller model",
    ),
    "distribution-shift": CodeInfo(
        "bias-variance",
        "warning",
        "distribution shift between train and test data",
        (
            "test data drawn from a different distribution (domain, sensor, time)",
            "preprocessing that differs between training and test data",
        ),
        "analyze the test-val errors, collect or synthesize training data like them, apply "
        "domain adaptation",
    ),
    "val-overfitting": CodeInfo(
        "rebalance",
        "warning",
        "over-fitting to the validation set",
        (
            "a validation set that is too small",
            "lots of hyperparameter tuning against it",
            "validation examples leaked into training",
        ),
        "re-collect the validation set (larger, fresh examples) and tune less against it",
    ),
    "class-imbalance": CodeInfo(
        "rebalance",
        "warning",
        "classes are imbalanced",
        ("the data source over-represents some classes", "a filtering or sampling bug"),
        "re-balance: collect more of the rare classes, re-sample, or weight the loss; watch "
        "per-class metrics, not only accuracy",
    ),
}


@dataclass(frozen=True)
class Finding:
    """One diagnosis: what is wrong, the numbers behind it, why it may happen, what next.

    ``severity`` is "error" (must fix before the next step means anything), "warning" (a
    problem to fix) or "info" (a note, or a check that could not apply).
    """

    code: str
    severity: Severity
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)
    causes: list[str] = field(default_factory=list)
    next_step: str = ""

    @property
    def step(self) -> str:
        return CATALOG[self.code].step

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "title": self.title,
            "step": self.step,
            "evidence": self.evidence,
            "causes": list(self.causes),
            "next_step": self.next_step,
        }


def make(
    code: str,
    title: str,
    evidence: dict[str, Any] | None = None,
    *,
    severity: Severity | None = None,
    causes: list[str] | tuple[str, ...] | None = None,
    next_step: str | None = None,
) -> Finding:
    """A finding with the catalog's defaults for whatever is not given."""
    info = CATALOG[code]  # KeyError here is a programming error: codes are a fixed catalog
    return Finding(
        code,
        severity or info.severity,
        title,
        dict(evidence or {}),
        list(causes if causes is not None else info.causes),
        next_step if next_step is not None else info.next_step,
    )


def not_applicable(code: str, reason: str) -> Finding:
    """An info finding: this check could not apply, and why (instead of guessing)."""
    return make(
        code, f"not checked: {reason}", {"applies": False}, severity="info", causes=[], next_step=""
    )


def sort_key(f: Finding) -> tuple[int, int]:
    """Most severe first, then in the practice's order of work."""
    codes = list(CATALOG)
    return SEVERITIES.index(f.severity), codes.index(f.code)
