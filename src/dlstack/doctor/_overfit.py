"""Step 3, overfit a single batch: with regularization off, the error should go to ~0.

When it does not, the loss curve says how it failed, and each way has its causes (the
practice's table): the error goes up, explodes, oscillates, or plateaus.

The batch is a fixed, seeded set of train examples, read once (so augmentation is off),
unless a second read of the same inputs gives different labels: then the labels are
corrupted, and the batch is reread every step as a training loop would.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dlstack.doctor._context import OVERFIT_STEPS, Context
from dlstack.doctor._ctc import blank_plateau, empty_share, plateau_finding
from dlstack.doctor._data import reread
from dlstack.doctor._findings import CATALOG, make
from dlstack.doctor._run import Tracer
from dlstack.doctor._train import no_regularization
from dlstack.doctor._tree import Tree, batch_len, to_device, trees_equal
from dlstack.train import forward

__all__ = ["OVERFIT_ROWS", "OverfitResult", "classify", "overfit_batch", "overfit_findings"]

OVERFIT_ROWS = 32  # "a single batch": small enough to memorize in a few hundred steps
REGRESSION_FIT = 0.05  # loss at 5% of the mean predictor's counts as fit
LOSS_FIT = 0.1  # classification: error 0 and the loss at a tenth of where it started
STILL_FALLING = 0.1  # a run cut by time whose loss fell 10% in its last quarter: no verdict


@dataclass
class OverfitResult:
    """The single-batch run: its curves and verdict (fit, error-up, explodes, oscillates,
    plateau)."""

    lr: float
    losses: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    verdict: str = "plateau"
    reason: str = ""
    nonfinite: dict[str, Any] | None = None
    labels_change: bool = False
    seconds: float = 0.0
    planned: int = OVERFIT_STEPS
    cut: bool = False  # stopped by the time cap (budget_s) before a verdict
    empty: float | None = None  # CTC: the share of lines the last step read as empty
    # the first step's largest relative change of a weight tensor, ||dw|| / ||w||, and
    # which: ~1e-3 is a healthy step (Karpathy's rule of thumb), 0.1+ a step far too big
    update_ratio: tuple[str, float] | None = None

    @property
    def fit(self) -> bool:
        return self.verdict == "fit"

    @property
    def blocks(self) -> bool:
        """A failed single batch stops the walk; an inconclusive one, or a CTC model still
        in its blank plateau, does not."""
        return self.verdict not in ("fit", "inconclusive", "blank-plateau")

    def summary(self) -> dict[str, Any]:
        finite = [v for v in self.losses if math.isfinite(v)]
        return {
            "lr": self.lr,
            "steps": len(self.losses),
            "verdict": self.verdict,
            "reason": self.reason,
            "initial_loss": _r(self.losses[0]) if self.losses else None,
            "final_loss": _r(self.losses[-1]) if self.losses else None,
            "min_loss": _r(min(finite)) if finite else None,
            "initial_error": _r(self.errors[0]) if self.errors else None,
            "final_error": _r(self.errors[-1]) if self.errors else None,
            "labels_change_between_reads": self.labels_change,
            "steps_planned": self.planned,
            "cut_short": self.cut,
        }


def _r(v: float) -> float:
    return float(f"{v:.4g}")


def overfit_batch(ctx: Context, lr: float | None = None) -> OverfitResult:
    """Train a fresh copy on one fixed batch until it fits or its planned steps run out;
    the time cap (budget_s) may cut it short, and then there is no verdict."""
    assert ctx.problem is not None
    p = ctx.problem
    lr = ctx.optim.lr if lr is None else lr
    model = no_regularization(ctx.fresh_model())
    opt = ctx.optim.make(model.parameters(), lr, regularize=False)
    rows = ctx.rows(OVERFIT_ROWS)
    x, y = ctx.train.take(rows)
    planned = ctx.steps.overfit if ctx.steps is not None else OVERFIT_STEPS
    result = OverfitResult(lr, planned=planned)
    again = reread(ctx.train, rows)
    if again is not None and trees_equal(again[0], x) and not trees_equal(again[1], y):
        result.labels_change = True
    start = time.perf_counter()
    for step in range(planned):
        if ctx.budget.spent():
            result.cut = True
            break
        if result.labels_change:
            fresh = reread(ctx.train, rows)
            assert fresh is not None
            x, y = fresh
        xb, yb = to_device(x, ctx.device), to_device(y, ctx.device)
        bad = [n for n, q in model.named_parameters() if not bool(torch.isfinite(q).all())]
        if bad:
            result.nonfinite = {"where": f"weights of {bad[0]}", "step": step}
            break
        out = forward(model, xb)
        loss = p.loss_fn(out, yb)
        value = float(loss.detach())
        result.losses.append(value)
        wrong, total = p.counts(out.detach().float().cpu(), to_device(yb, torch.device("cpu")))
        result.errors.append(wrong / max(total, 1e-12))
        if p.kind == "ctc":
            result.empty = empty_share(out, batch_len(yb))
        if not math.isfinite(value):
            result.nonfinite = {**_locate(model, xb), "step": step}
            break
        if _is_fit(ctx, result):
            result.verdict, result.reason = "fit", f"fit in {step + 1} steps"
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        bad = [
            n
            for n, q in model.named_parameters()
            if q.grad is not None and not bool(torch.isfinite(q.grad).all())
        ]
        if bad:
            result.nonfinite = {"where": f"gradient of {bad[-1]}", "step": step}
            break
        if step == 0:
            before = {n: q.detach().clone() for n, q in model.named_parameters() if q.ndim >= 2}
            opt.step()
            result.update_ratio = _update_ratio(model, before)
        else:
            opt.step()
    result.seconds = time.perf_counter() - start
    ctx.budget.record(len(result.losses), result.seconds)
    if result.cut and result.verdict != "fit":
        # a partial curve is no evidence: no verdict, whatever its shape so far
        result.verdict = "inconclusive"
        result.reason = (
            f"cut short by the time cap (budget_s={ctx.budget.total:g}) after "
            f"{len(result.losses)} of {planned} steps"
        )
    elif result.verdict != "fit":
        result.verdict, result.reason = classify(
            result.losses, result.errors, result.nonfinite, ctx.problem.kind
        )
        if (
            p.kind == "ctc"
            and result.verdict == "plateau"
            and blank_plateau(result.losses, result.errors, result.empty)
        ):
            result.verdict = "blank-plateau"
            result.reason = (
                f"after {len(result.losses)} steps every line still reads as blanks "
                f"(CER {result.errors[-1]:.0%}) while the loss keeps falling "
                f"({result.losses[0]:.3g} -> {result.losses[-1]:.3g})"
            )
        if result.labels_change and result.verdict in ("plateau", "inconclusive"):
            # the target moves every step: the practice's "labels shuffled" oscillation
            result.verdict = "oscillates"
            result.reason = "the labels of the batch change on every read; " + result.reason
    return result


@torch.no_grad()
def _update_ratio(
    model: torch.nn.Module, before: dict[str, torch.Tensor]
) -> tuple[str, float] | None:
    """The weight tensor (2-D or more) the step changed most, relative to its size."""
    ratios = {
        n: float((q - before[n]).norm() / before[n].norm())
        for n, q in model.named_parameters()
        if n in before and float(before[n].norm()) > 0
    }
    if not ratios:
        return None
    name = max(ratios, key=lambda n: ratios[n])
    return name, ratios[name]


@torch.no_grad()
def _locate(model: torch.nn.Module, x: Tree) -> dict[str, Any]:
    tracer = Tracer(model)
    with tracer:
        forward(model, x)
    return tracer.first_nonfinite or {"where": "the loss"}


def _is_fit(ctx: Context, r: OverfitResult) -> bool:
    p = ctx.problem
    assert p is not None
    loss, err, first = r.losses[-1], r.errors[-1], r.losses[0]
    if p.kind == "regression":
        return err <= REGRESSION_FIT
    if p.kind == "structured":  # no error count: the loss alone decides
        return _loss_fit(p.loss_floor, loss, first)
    if err > 0:
        return False
    # error 0, and the loss at a tenth of its way to the floor (or, with an unknown
    # floor, fell 10x or has stopped falling)
    return _loss_fit(p.loss_floor, loss, first) or (
        p.loss_floor is None and _loss_stopped(r.losses)
    )


def _loss_fit(floor: float | None, loss: float, first: float) -> bool:
    if floor is not None:
        return loss - floor <= LOSS_FIT * max(first - floor, 1e-8)
    return 0 < loss <= LOSS_FIT * first


def _loss_stopped(losses: list[float]) -> bool:
    recent = losses[-20:]
    return len(recent) == 20 and recent[0] - recent[-1] <= 0.02 * abs(recent[0]) + 1e-8


def classify(
    losses: list[float],
    errors: list[float],
    nonfinite: dict[str, Any] | None,
    kind: str,
    cut: bool = False,
) -> tuple[str, str]:
    """How a single-batch run failed: error-up, explodes, oscillates or plateau; or
    "inconclusive" when time ran out while the loss was still falling."""
    if nonfinite is not None:
        return "explodes", f"non-finite at step {nonfinite.get('step')} ({nonfinite['where']})"
    loss = np.asarray(losses, dtype=float)
    err = np.asarray(errors, dtype=float)
    n, first = len(loss), float(loss[0])
    k = max(3, n // 10)
    if loss.max() > 100 * abs(first) + 1 or np.abs(loss).max() > 1e6:
        return "explodes", f"loss grew from {first:.3g} to {loss.max():.3g}"
    if loss.min() < -10 * abs(first) - 1:
        return "error-up", f"loss fell without bound to {loss.min():.3g}: its sign is flipped"
    if kind != "regression" and err[-k:].mean() > err[:k].mean() + 0.05:
        return "error-up", f"error rose from {err[:k].mean():.1%} to {err[-k:].mean():.1%}"
    if loss[-k:].mean() > 1.2 * first + 1e-6:
        return "error-up", f"loss rose from {first:.3g} to {loss[-k:].mean():.3g}"
    second = loss[n // 2 :]
    level = float(np.median(np.abs(second))) + 1e-8
    ups = float((np.diff(second) > 0.01 * level).mean()) if len(second) > 2 else 0.0
    amplitude = float(second.max() - second.min()) / level
    if ups >= 0.3 and amplitude >= 0.25:
        return (
            "oscillates",
            f"in the last {len(second)} steps the loss rose {ups:.0%} of "
            f"the time, swinging {amplitude:.0%} of its level",
        )
    drop = (first - float(loss[-k:].mean())) / (abs(first) + 1e-8)
    quarter = loss[(3 * n) // 4 :]
    recent = (float(quarter[0]) - float(quarter[-1])) / (abs(float(quarter[0])) + 1e-8)
    if kind != "regression" and err[-k:].max() == 0 and recent > STILL_FALLING:
        return (
            "fit",
            f"the error reached 0; the loss was still falling slowly "
            f"({recent:.0%} in the last quarter of {n} steps)",
        )
    if cut and recent > STILL_FALLING:
        return (
            "inconclusive",
            f"stopped by the time limit after {n} steps while the loss "
            f"was still falling ({recent:.0%} in the last quarter)",
        )
    return (
        "plateau",
        f"after {n} steps the loss is at {loss[-k:].mean():.3g} "
        f"({drop:.0%} below its start) and the error at {err[-k:].mean():.1%}",
    )


def overfit_findings(
    ctx: Context, result: OverfitResult, *, lr_cause: str | None, clean: bool = False
) -> None:
    """The overfit-* finding (and nan-inf, label-noise) for a failed run. ``clean``: no
    other bug was found, so a plateau means the model is too small or too constrained."""
    if result.labels_change:
        ctx.add(
            make(
                "label-noise",
                "the same training inputs come with different labels on two reads",
                {"rows_checked": OVERFIT_ROWS},
                causes=[
                    "labels drawn or shuffled anew on each read (a bug in "
                    "__getitem__ or in the label lookup)"
                ],
                next_step="make __getitem__ return a fixed label for each example",
                severity="error",
            )
        )
    if result.fit:
        return
    if result.cut:  # reported by the caller as soon as it happened (ctx.cut)
        return
    if result.verdict == "blank-plateau":
        evidence = {**result.summary(), "empty_share": result.empty}
        ctx.add(plateau_finding(f"overfitting {OVERFIT_ROWS} lines", evidence, "warning"))
        return
    if result.verdict == "inconclusive":
        ctx.add(
            make(
                "overfit-plateau",
                f"overfitting {OVERFIT_ROWS} examples: {result.reason}",
                result.summary(),
                severity="info",
                causes=[],
                next_step="rerun with a larger budget_s to get a verdict",
            )
        )
        return
    code = f"overfit-{result.verdict}"
    causes = list(CATALOG[code].causes)
    if lr_cause == "lr":
        causes = [c for c in causes if "learning rate" in c] + [
            c for c in causes if "learning rate" not in c
        ]
    elif lr_cause == "not-lr":
        causes = [c for c in causes if "learning rate" not in c] or causes
    if result.labels_change:
        causes.insert(0, "labels change between reads of the same examples (see label-noise)")
    evidence = result.summary()
    ctx.add(
        make(code, f"overfitting {OVERFIT_ROWS} examples: {result.reason}", evidence, causes=causes)
    )
    if result.verdict == "plateau" and clean and lr_cause != "lr":
        ctx.add(
            make(
                "underfitting",
                f"the model cannot fit even {OVERFIT_ROWS} examples, and "
                f"no bug explains it: it is too small or too constrained",
                evidence,
                causes=[
                    "model too small (too few units or layers, a bottleneck)",
                    "too much regularization or a constrained output (a sigmoid, "
                    "a clamp, a ReLU on the logits)",
                    "an architecture unsuited to the data",
                ],
            )
        )
    if result.nonfinite is not None:
        ctx.add(
            make(
                "nan-inf",
                f"non-finite values at step {result.nonfinite.get('step')} of "
                f"the single-batch run, first in {result.nonfinite['where']}",
                {**result.nonfinite, "stage": "overfitting one batch", "lr": result.lr},
            )
        )
