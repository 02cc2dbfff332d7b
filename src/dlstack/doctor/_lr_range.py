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

from dlstack.doctor._context import Context
from dlstack.doctor._findings import make
from dlstack.doctor._overfit import OverfitResult
from dlstack.doctor._train import no_regularization
from dlstack.train import forward

__all__ = ["LR_END", "LR_START", "LRRangeResult", "lr_findings", "lr_range_test"]

LR_START, LR_END = 1e-7, 10.0  # the range the practice (and fastai, Lightning) sweeps
LR_STEPS = 100
TIME_SHARE = 0.1
MIN_SECONDS = 8.0  # the budget never cuts the sweep below this
SMOOTHING = 0.9  # exponential moving average of the loss, bias-corrected
DIVERGE = 4.0  # smoothed loss above 4x its minimum: diverged
SUGGEST_BELOW_MIN = 10.0  # suggest a tenth of the lr at the lowest loss (fastai's rule)
# Without a failed single batch, a given learning rate is judged by the sweep alone, with
# wide margins: too high past 2x the lr of the lowest loss, too low under 1/1000 of the
# suggestion. The doctor's own default (Adam 3e-4) is not judged by the sweep alone.
ABOVE_MIN = 2.0
TOO_LOW = 1000.0


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

    def summary(self) -> dict[str, Any]:
        return {
            "steps": len(self.lrs),
            "lr_min_loss": self.lr_min_loss,
            "lr_steepest": self.lr_steepest,
            "lr_diverge": self.lr_diverge,
            "suggested": self.suggested,
        }


def lr_range_test(ctx: Context) -> LRRangeResult:
    assert ctx.problem is not None
    model = no_regularization(ctx.fresh_model())
    opt = ctx.optim.make(model.parameters(), LR_START, regularize=False)
    factor = (LR_END / LR_START) ** (1 / (LR_STEPS - 1))
    g = torch.Generator().manual_seed(ctx.seed)
    order = torch.randperm(len(ctx.train), generator=g)
    batches = order.split(ctx.batch_size)
    res = LRRangeResult()
    start = time.perf_counter()
    limit = max(ctx.budget.total * TIME_SHARE, MIN_SECONDS)
    avg, best = 0.0, math.inf
    for step in range(LR_STEPS):
        lr = LR_START * factor**step
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = ctx.train.take(batches[step % len(batches)])
        loss = ctx.problem.loss_fn(forward(model, x.to(ctx.device)), y.to(ctx.device))
        value = float(loss.detach())
        if not math.isfinite(value):
            res.lr_diverge = lr
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
        opt.step()
        if time.perf_counter() - start > limit:
            break
    res.seconds = time.perf_counter() - start
    _suggest(res)
    return res


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
    "not-lr" when it did not, None when there was nothing to retry."""
    lr = ctx.optim.lr
    who = "your" if ctx.optim.user_given else "the doctor's default"
    ev: dict[str, Any] = {"lr": lr, "optimizer": ctx.optim.name, **rt.summary()}
    if retry is not None:
        ev["retry"] = {"lr": retry.lr, "verdict": retry.verdict, "reason": retry.reason}
        if retry.fit:
            high = lr > retry.lr
            code = "lr-too-high" if high else "lr-too-low"
            ctx.add(
                make(
                    code,
                    f"{who} learning rate {lr:.2g} does not fit one batch "
                    f"({first.verdict}); at {retry.lr:.2g}, suggested by the range test, "
                    f"it fits",
                    ev,
                    next_step=f"use a learning rate near {retry.lr:.2g} with {ctx.optim.name}",
                )
            )
            return "lr"
        return "not-lr"  # the learning rate is not what stops this model
    if not ctx.optim.user_given:
        return None  # the practice's default is only judged by a failed single batch
    if rt.lr_diverge is not None and lr >= rt.lr_diverge:
        ctx.add(
            make(
                "lr-too-high",
                f"{who} learning rate {lr:.2g} is past the point where the "
                f"range test diverged ({rt.lr_diverge:.2g})",
                ev,
            )
        )
    elif rt.lr_min_loss is not None and lr > ABOVE_MIN * rt.lr_min_loss:
        ctx.add(
            make(
                "lr-too-high",
                f"{who} learning rate {lr:.2g} is above {rt.lr_min_loss:.2g}, "
                f"where the range test's loss bottoms out and starts to rise",
                ev,
            )
        )
    elif rt.suggested is not None and rt.lr_diverge is not None and lr < rt.suggested / TOO_LOW:
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
