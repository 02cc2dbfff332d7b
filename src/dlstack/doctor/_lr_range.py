"""Step 4, the learning-rate range test: raise the learning rate exponentially from 1e-7
to 10 over one short run and watch the loss fall, bottom out and diverge (Smith 2017,
the practice's way to pick a learning rate).

The verdict on the learning rate in use (``lr=``/``optimizer=``, or the doctor's Adam
3e-4) is strongest when the single-batch test failed: the doctor reruns that test at the
suggested learning rate, and if the batch then fits, the learning rate was the cause.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dlstack.doctor._context import LR_STEPS, Context
from dlstack.doctor._findings import make
from dlstack.doctor._nonfinite import explain, nonfinite_finding
from dlstack.doctor._overfit import OverfitResult
from dlstack.doctor._train import no_regularization
from dlstack.doctor._tree import to_device
from dlstack.train import forward

__all__ = [
    "LR_END",
    "LR_START",
    "LRRangeResult",
    "lr_after_training",
    "lr_findings",
    "lr_range_test",
]

LR_START, LR_END = 1e-7, 10.0  # the range the practice (and fastai, Lightning) sweeps
SMOOTHING = 0.9  # exponential moving average of the loss, bias-corrected
DIVERGE = 4.0  # smoothed loss above 4x its minimum: diverged
SUGGEST_BELOW_MIN = 10.0  # suggest a tenth of the lr at the lowest loss (fastai's rule)
# Without a failed single batch, a given learning rate is judged by the sweep alone, with
# wide margins: too high past 2x the lr of the lowest loss, too low under 1/1000 of the
# suggestion. The doctor's own default (Adam 3e-4) is not judged by the sweep alone.
ABOVE_MIN = 2.0
TOO_LOW = 1000.0
# The healthy zoo cases' learning rates sit at most at 0.14x the lr of their sweep's lowest
# loss (dlstack's LeNet at 1e-3; SGD at 0.05: 0.12x; most at 0.0003-0.01x), 14x below 2x.
DEFAULT_NEAR_DIVERGE = 2.0  # the default lr within 2x of the sweep's divergence
DEFAULT_ABOVE_MIN = 5.0  # or 5x the lr of its lowest loss (healthy zoo: <= 0.14x)
TRAINING_NEAR_DIVERGE = 4.0  # after an under-fitting training: within 4x of divergence
USUAL_LR_MAX = 1e-2  # up to here an lr is a usual one (Adam 3e-4..1e-3, SGD 1e-2)
BIG_UPDATE = 0.05  # a first step that changes a weight tensor by 5% of its norm


@dataclass
class LRRangeResult:
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    lr_min_loss: float | None = None
    lr_steepest: float | None = None
    lr_diverge: float | None = None
    suggested: float | None = None
    seconds: float = 0.0
    planned: int = LR_STEPS
    cut: bool = False  # stopped by the time cap before the sweep was complete
    nonfinite: dict[str, Any] | None = None  # a batch with a non-finite loss, not divergence

    @property
    def complete(self) -> bool:
        """The whole sweep ran (to LR_END or until the loss diverged)."""
        return not self.cut and self.nonfinite is None

    def summary(self) -> dict[str, Any]:
        return {
            "steps": len(self.lrs),
            "steps_planned": self.planned,
            "complete": self.complete,
            "lr_min_loss": self.lr_min_loss,
            "lr_steepest": self.lr_steepest,
            "lr_diverge": self.lr_diverge,
            "suggested": self.suggested,
        }


def lr_range_test(ctx: Context) -> LRRangeResult:
    """The sweep, always whole: its planned steps cover 1e-7..10 and it stops early only
    when the loss diverges. Cut by the time cap, it is incomplete (``complete`` False):
    no suggestion is made from it and it is not plotted."""
    assert ctx.problem is not None
    planned = ctx.steps.lr_range if ctx.steps is not None else LR_STEPS
    model = no_regularization(ctx.fresh_model())
    opt = ctx.optim.make(model.parameters(), LR_START, regularize=False)
    factor = (LR_END / LR_START) ** (1 / (planned - 1))
    g = torch.Generator().manual_seed(ctx.seed)
    order = torch.randperm(len(ctx.train), generator=g)
    batches = order.split(ctx.batch_size)
    res = LRRangeResult(planned=planned)
    start = time.perf_counter()
    avg, best = 0.0, math.inf
    for step in range(planned):
        if ctx.budget.spent():
            res.cut = True
            break
        lr = LR_START * factor**step
        for group in opt.param_groups:
            group["lr"] = lr
        rows = batches[step % len(batches)]
        x, y = ctx.train.take(rows)
        out = forward(model, to_device(x, ctx.device))
        loss = ctx.problem.loss_fn(out, to_device(y, ctx.device))
        value = float(loss.detach())
        if not math.isfinite(value):
            info = explain(model, ctx.train, rows, ctx.problem.loss_fn, "loss")
            if _diverged(model, info):
                res.lr_diverge = lr
            else:  # finite outputs (or only some rows not): this batch breaks, not the lr
                res.nonfinite = {**info, "step": step, "lr": lr, "loss": value}
            break
        avg = SMOOTHING * avg + (1 - SMOOTHING) * value
        smooth = avg / (1 - SMOOTHING ** (step + 1))
        res.lrs.append(lr)
        res.losses.append(value)
        res.smoothed.append(smooth)
        best = min(best, smooth)
        if step > 10 and smooth > DIVERGE * best and best > 0:
            res.lr_diverge = lr
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        bad = [
            n
            for n, q in model.named_parameters()
            if q.grad is not None and not bool(torch.isfinite(q.grad).all())
        ]
        if bad:  # the loss is finite, its gradient is not: no step can be taken
            info = explain(model, ctx.train, rows, ctx.problem.loss_fn, f"gradient of {bad[-1]}")
            res.nonfinite = {**info, "step": step, "lr": lr, "loss": value}
            break
        opt.step()
    res.seconds = time.perf_counter() - start
    ctx.budget.record(len(res.lrs), res.seconds)
    if res.complete:
        _suggest(res)
    return res


def _diverged(model: torch.nn.Module, info: dict[str, Any]) -> bool:
    """A non-finite loss from divergence: weights blown up, or every example's output
    non-finite. A finite output with a non-finite loss, or a few bad rows, is a batch
    the model or the loss cannot handle, whatever the learning rate."""
    if any(not bool(torch.isfinite(q).all()) for q in model.parameters()):
        return True
    return info.get("culprit") == "model" and info.get("nonfinite_outputs", 0) >= info.get(
        "batch_size", 1
    )


def _suggest(res: LRRangeResult) -> None:
    if len(res.smoothed) < 10:
        return
    s = np.asarray(res.smoothed)
    lrs = np.asarray(res.lrs)
    low = int(s.argmin())
    if s[low] > 0.95 * s[: max(3, len(s) // 10)].mean() or low < 5:
        return  # the loss never fell: the learning rate is not what stops this model
    res.lr_min_loss = float(lrs[low])
    slope = np.gradient(s[: low + 1], np.log(lrs[: low + 1]))
    res.lr_steepest = float(lrs[int(slope.argmin())])
    res.suggested = float(lrs[low] / SUGGEST_BELOW_MIN)


def lr_findings(
    ctx: Context, rt: LRRangeResult, first: OverfitResult, retry: OverfitResult | None
) -> str | None:
    """lr-too-high/low; returns "lr" when a retry at the suggested lr fixed overfitting,
    "not-lr" when it did not, None when there was nothing to retry.

    An incomplete sweep (cut by the time cap) gives no verdict. A learning rate past the
    sweep's divergence, or above twice the lr of its lowest loss, is too high whoever
    chose it: for the doctor's own default (a usual lr), that means the model multiplies
    its steps itself, an *effective* learning rate hidden in the parametrization."""
    if rt.nonfinite is not None:
        nf = rt.nonfinite
        ctx.add(
            nonfinite_finding(
                nf, "the learning-rate range test", nf["step"], f" (lr {nf['lr']:.2g})"
            )
        )
        ctx.skip(
            "lr-too-high",
            "learning-rate range test",
            f"stopped at step {nf['step'] + 1} of {rt.planned} by a non-finite "
            f"{'loss' if nf['what'] == 'loss' else 'gradient'} on one batch, at lr "
            f"{nf['lr']:.2g}, before the loss rose (see nan-inf)",
        )
        return None
    if not rt.complete:
        ctx.cut("lr-too-high", "learning-rate range test", len(rt.lrs), rt.planned)
        return None
    lr = ctx.optim.lr
    who = "your" if ctx.optim.user_given else "the doctor's default"
    ev: dict[str, Any] = {"lr": lr, "optimizer": ctx.optim.name, **rt.summary()}
    if first.update_ratio is not None:
        ev["first_step_update"] = {
            "parameter": first.update_ratio[0],
            "relative_change": round(first.update_ratio[1], 4),
        }
    high = _too_high(lr, rt, ctx.optim.user_given)
    if retry is not None:
        ev["retry"] = {"lr": retry.lr, "verdict": retry.verdict, "reason": retry.reason}
        if retry.fit:
            up = lr > retry.lr
            title = (
                f"{who} learning rate {lr:.2g} does not fit one batch "
                f"({first.verdict}); at {retry.lr:.2g}, suggested by the range test, it fits"
            )
            ctx.add(
                make(
                    "lr-too-high" if up else "lr-too-low",
                    title + (_effective_note(ctx, rt, first) if up else ""),
                    ev,
                    next_step=f"use a learning rate near {retry.lr:.2g} with {ctx.optim.name}",
                    causes=_effective_causes(first)
                    if up and _effective_note(ctx, rt, first)
                    else None,
                )
            )
            return "lr"
        if not high:
            return "not-lr"  # the learning rate is not what stops this model
    if high:
        where = (
            f"past the point where the range test diverged ({rt.lr_diverge:.2g})"
            if rt.lr_diverge is not None and lr >= rt.lr_diverge
            else f"{lr / (rt.lr_min_loss or lr):.0f}x the lr where the range test's loss "
            f"bottoms out ({rt.lr_min_loss:.2g}) and starts to rise"
        )
        ctx.add(
            make(
                "lr-too-high",
                f"{who} learning rate {lr:.2g} is {where}" + _effective_note(ctx, rt, first),
                ev,
                causes=_effective_causes(first),
                next_step=(
                    f"use a learning rate near {rt.suggested:.2g} with {ctx.optim.name}, or "
                    f"remove the scaling that multiplies the steps"
                    if rt.suggested is not None
                    else "lower the learning rate until the range test's loss falls"
                ),
            )
        )
        return "lr"
    if not ctx.optim.user_given:
        return None  # the practice's default is not judged too low by the sweep alone
    if rt.suggested is not None and rt.lr_diverge is not None and lr < rt.suggested / TOO_LOW:
        # (only when the sweep diverged: a loss still falling at lr 10 bounds nothing)
        ctx.add(
            make(
                "lr-too-low",
                f"{who} learning rate {lr:.2g} is over {TOO_LOW:.0f}x below "
                f"the range test's suggestion {rt.suggested:.2g}",
                ev,
            )
        )
    return None


def lr_after_training(ctx: Context, sweep: dict[str, Any]) -> None:
    """lr-too-high once the short training under-fits: a learning rate above ABOVE_MIN x
    the sweep's lowest-loss lr (or within TRAINING_NEAR_DIVERGE of its divergence) is
    then the likely cause, even the doctor's own default (the parametrization can
    multiply every step: an effective learning rate)."""
    if ctx.found("lr-too-high", "lr-too-low") or not sweep.get("complete", True):
        return
    if not ctx.found("underfitting", "worse-than-baseline"):
        return
    lr, low, div = ctx.optim.lr, sweep.get("lr_min_loss"), sweep.get("lr_diverge")
    near = div is not None and lr * TRAINING_NEAR_DIVERGE >= div
    if not (near or (low is not None and lr > ABOVE_MIN * low)):
        return
    bv = ctx.evidence.get("bias_variance")
    train = bv.errors.get("train") if bv is not None else None
    where = (
        f"within {TRAINING_NEAR_DIVERGE:.0f}x of where the range test diverged ({div:.2g})"
        if near and div is not None
        else f"{lr / (low or lr):.1f}x the lr where the range test's loss bottoms out ({low:.2g})"
    )
    first = ctx.evidence.get("first_step_update")
    note = ""
    if lr <= USUAL_LR_MAX:
        note = (
            f"; {lr:.2g} is a usual lr for {ctx.optim.name}, so the model's effective "
            f"learning rate is too high"
        )
        if first and first["relative_change"] >= BIG_UPDATE:
            note += (
                f" (one step changes {first['parameter']} by {first['relative_change']:.0%} of "
                f"its size, where ~0.1% is usual: weights stored small and scaled up in forward?)"
            )
    ctx.add(
        make(
            "lr-too-high",
            "the short training under-fits"
            + (f" (train error {train:.0%})" if train is not None else "")
            + f" and the learning rate {lr:.2g} is {where}"
            + note,
            {
                "lr": lr,
                "optimizer": ctx.optim.name,
                "lr_min_loss": low,
                "lr_diverge": div,
                "suggested": sweep.get("suggested"),
                "first_step_update": first,
            },
            causes=_effective_causes_list(),
            next_step=(
                f"use a learning rate near {sweep['suggested']:.2g} with {ctx.optim.name}, "
                f"or remove the scaling that multiplies the steps"
                if sweep.get("suggested")
                else "lower the learning rate"
            ),
        )
    )


def _too_high(lr: float, rt: LRRangeResult, user_given: bool) -> bool:
    """Past the sweep's divergence, or above ABOVE_MIN x the lr of its lowest loss; the
    doctor's own default (a usual lr, known to work on ordinary models) needs more:
    within DEFAULT_NEAR_DIVERGE of the divergence, or DEFAULT_ABOVE_MIN x the lowest."""
    near, above = (1.0, ABOVE_MIN) if user_given else (DEFAULT_NEAR_DIVERGE, DEFAULT_ABOVE_MIN)
    if rt.lr_diverge is not None and lr * near >= rt.lr_diverge:
        return True
    return rt.lr_min_loss is not None and lr > above * rt.lr_min_loss


def _effective_note(ctx: Context, rt: LRRangeResult, first: OverfitResult) -> str:
    """Why a usual learning rate is too high for this model: its effective lr is larger."""
    if ctx.optim.lr > USUAL_LR_MAX:
        return ""
    note = (
        f"; {ctx.optim.lr:.2g} is a usual lr for {ctx.optim.name}, so the model's "
        f"effective learning rate is too high"
    )
    if first.update_ratio is not None and first.update_ratio[1] >= BIG_UPDATE:
        name, ratio = first.update_ratio
        note += (
            f" (one step changes {name} by {ratio:.0%} of its size, where ~0.1% is "
            f"usual: weights stored small and scaled up in forward?)"
        )
    return note


def _effective_causes(first: OverfitResult) -> list[str]:
    return _effective_causes_list()


def _effective_causes_list() -> list[str]:
    return [
        "an effective learning rate multiplied by the parametrization: a weight stored "
        "scaled down and multiplied up in forward (nn.Parameter(w / 100), x @ (w * 100)) "
        "takes steps 100x larger (Adam) or 10,000x (SGD)",
        "a learning rate past the point where the loss starts to diverge",
        "a loss summed instead of averaged over the batch (SGD steps grow with the batch)",
    ]
