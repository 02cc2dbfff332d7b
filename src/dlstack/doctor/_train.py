"""The doctor's short trainings, on dlstack.train's plain loop and optimizer registry.

The doctor must take any model, so it trains with the plain-PyTorch loop
(:func:`dlstack.train.train_loop`), not Lightning. Its optimizer is a fixed, documented
choice, Adam at 3e-4 (dlstack.config's defaults), unless the caller passes ``optimizer=``
and/or ``lr=`` (anything :func:`dlstack.train.resolve_optimizer` takes).

Regularization the doctor controls (dropout modules, weight decay) is switched off for
the single-batch test and the learning-rate range test, and left as given for the short
real training.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dlstack.doctor._data import Split
from dlstack.doctor._nonfinite import explain
from dlstack.doctor._problem import Problem
from dlstack.doctor._tree import batch_len, index, to_device
from dlstack.train import EpochEnd, OptimSpec, device_of, forward, train_loop

__all__ = ["TrainHistory", "error_rate", "fit", "no_regularization"]

EVAL_BATCH = 512
PATIENCE_STEPS = 200  # early stopping waits at least this many steps without improvement
EVAL_EVERY_STEPS = 50  # small datasets: evaluate every few epochs, not after each 10 steps
STOP_TIME = "time"  # dlstack.train's reason for a loop stopped by its time limit


def no_regularization(model: nn.Module) -> nn.Module:
    """Turn dropout modules off in place (the practice: overfit with regularization off)."""
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0
    return model


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: Split,
    problem: Problem,
    *,
    limit: int | None = None,
    train_mode: bool = False,
) -> tuple[float, float]:
    """(error rate, mean loss) of ``model`` on (the first ``limit`` rows of) ``split``."""
    model.train(train_mode)
    device = device_of(model)
    n = len(split) if limit is None else min(limit, len(split))
    wrong = total = loss = 0.0
    for i in range(0, n, EVAL_BATCH):
        rows = slice(i, min(i + EVAL_BATCH, n))
        x, y = index(split.x, rows), index(split.y, rows)
        out = forward(model, to_device(x, device))
        loss += float(problem.loss_fn(out, to_device(y, device))) * batch_len(x)
        w, t = problem.counts(out.float().cpu(), y)
        wrong, total = wrong + w, total + t
    return wrong / max(total, 1e-12), loss / max(n, 1)


def error_rate(
    model: nn.Module,
    split: Split,
    problem: Problem,
    *,
    limit: int | None = None,
    train_mode: bool = False,
) -> float:
    """The error rate of ``model`` on (the first ``limit`` rows of) ``split``."""
    return evaluate(model, split, problem, limit=limit, train_mode=train_mode)[0]


@dataclass
class TrainHistory:
    """Per-epoch numbers of one short training, and why it stopped."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    stopped_by: str = ""
    steps: int = 0
    planned: int = 0  # the step budget it was given
    seconds: float = 0.0
    nonfinite: dict[str, Any] | None = None  # where a loss or gradient was inf/NaN, and why

    @property
    def cut_by_time(self) -> bool:
        """Stopped by the time cap (budget_s) before its planned steps: no verdict."""
        return self.stopped_by == STOP_TIME

    @property
    def still_improving(self) -> bool:
        """True when the last epoch still cut the train loss or error clearly."""
        if len(self.epochs) < 2:
            return bool(self.epochs)
        last, prev = self.epochs[-1], self.epochs[-2]
        return (
            last["train_loss"] < 0.97 * prev["train_loss"]
            or last.get("train_error", 0.0) < 0.9 * prev.get("train_error", 0.0) - 1e-3
        )


def fit(
    model: nn.Module,
    train: Split,
    problem: Problem,
    optim: OptimSpec,
    *,
    val: Split | None,
    batch_size: int,
    time_s: float,
    max_steps: int,
    seed: int,
    patience: int = 5,
    eval_limit: int = 2000,
) -> TrainHistory:
    """Train in place with ``optim``; keep the epoch with the best val error.

    Stops after ``max_steps`` steps (the step budget), when neither val error nor val
    loss has improved for ``patience`` epochs and ``PATIENCE_STEPS`` steps (all decided
    on steps, so the same on any machine), at the first non-finite loss or gradient
    (``hist.nonfinite`` says where), or after ``time_s`` seconds: the outer cap, whose
    cut the caller reports (``hist.cut_by_time``). With no val split, the final weights
    are kept.
    """
    hist = TrainHistory(planned=max_steps)
    if time_s <= 0:
        hist.stopped_by = STOP_TIME
        return hist
    per_epoch = math.ceil(len(train) / batch_size)
    every = max(1, math.ceil(EVAL_EVERY_STEPS / per_epoch))
    best: dict[str, Any] = {"err": math.inf, "loss": math.inf, "state": None, "step": 0}
    stale = 0

    def on_epoch(end: EpochEnd) -> str | None:
        nonlocal stale
        if end.epoch % every and not end.stopped_by:
            return None
        row = {"epoch": float(end.epoch), "train_loss": end.train_loss}
        better_err = False
        if val is not None:  # without val (cross-fitting) there is nothing to decide on
            row["train_error"] = evaluate(model, train, problem, limit=eval_limit)[0]
            row["val_error"], row["val_loss"] = evaluate(model, val, problem, limit=eval_limit)
            better_err = row["val_error"] < best["err"] - 1e-3
            # a falling val loss counts while train error is not 0 (a CTC model's error
            # stays at 100% for a while); after that only the error matters here
            better_loss = (
                row["val_loss"] < best["loss"] - 1e-3 * abs(best["loss"]) and row["train_error"] > 0
            )
            if better_err or better_loss:
                stale, best["step"] = 0, end.steps
            else:
                stale += 1
            best["loss"] = min(best["loss"], row["val_loss"])
            if row["val_error"] <= best["err"]:
                best["err"] = row["val_error"]
                best["state"] = copy.deepcopy(model.state_dict())
        hist.epochs.append(row)
        if end.stopped_by:
            return None
        if stale >= patience and end.steps - best["step"] >= PATIENCE_STEPS:
            return "no val improvement"
        if row.get("train_error") == 0.0 and not better_err:
            return "train error reached 0"
        return None

    out = train_loop(
        model,
        train,
        problem.loss_fn,
        optim.make(model.parameters()),
        batch_size=batch_size,
        seed=seed,
        max_steps=max_steps,
        time_s=time_s,
        on_epoch=on_epoch,
        check_grads=True,
    )
    if out.nonfinite is not None:  # explained on the weights that met it, before the best
        nf = out.nonfinite
        hist.nonfinite = {
            **explain(model, train, nf.rows, problem.loss_fn, nf.what),
            "step": nf.step,
            "epoch": nf.epoch,
            "batch": nf.batch,
            "loss": nf.loss,
        }
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    hist.steps, hist.stopped_by, hist.seconds = out.steps, out.stopped_by, out.seconds
    return hist
