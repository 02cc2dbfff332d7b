"""The doctor's own small training loop, and the optimizer it trains with.

The loop is plain PyTorch, visible top to bottom (no Lightning): the doctor must take any
model and must not depend on ``dlstack.train``. Its optimizer is a fixed, documented
choice, Adam at 3e-4, unless the caller passes ``optimizer=`` and/or ``lr=``:

- ``optimizer``: "adam", "adamw", "sgd" (momentum 0.9), an ``torch.optim.Optimizer``
  subclass, an optimizer instance (its class and hyperparameters are reused on the
  doctor's copies of the model), or a callable ``params -> Optimizer``.
- ``lr``: overrides the optimizer's learning rate.

Regularization the doctor controls (dropout modules, weight decay) is switched off for
the single-batch test and the learning-rate range test, and left as given for the short
real training.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from dlstack.doctor._data import Split
from dlstack.doctor._problem import Problem
from dlstack.errors import ConfigError

__all__ = [
    "DEFAULT_LR",
    "DEFAULT_OPTIMIZER",
    "OptimSpec",
    "TrainHistory",
    "error_rate",
    "fit",
    "forward",
    "resolve_optimizer",
]

DEFAULT_LR = 3e-4  # Adam's default step size, the practice's recommended starting point
DEFAULT_OPTIMIZER = "adam"
SGD_MOMENTUM = 0.9  # the usual companion of plain SGD
EVAL_BATCH = 512
PATIENCE_STEPS = 200  # early stopping waits at least this many steps without improvement
EVAL_EVERY_STEPS = 50  # small datasets: evaluate every few epochs, not after each 10 steps

Factory = Callable[[Iterable[nn.Parameter], float], Optimizer]


@dataclass(frozen=True)
class OptimSpec:
    """How to build the optimizer for a fresh copy of the model, at any learning rate."""

    name: str
    lr: float
    factory: Factory
    user_given: bool

    def make(
        self, params: Iterable[nn.Parameter], lr: float | None = None, *, regularize: bool = True
    ) -> Optimizer:
        opt = self.factory(params, self.lr if lr is None else lr)
        if not regularize:
            for group in opt.param_groups:
                if "weight_decay" in group:
                    group["weight_decay"] = 0.0
        return opt

    @property
    def weight_decay(self) -> float:
        probe = self.factory([nn.Parameter(torch.zeros(1))], self.lr)
        return float(probe.param_groups[0].get("weight_decay", 0.0) or 0.0)


_NAMED: dict[str, Callable[[Iterable[nn.Parameter], float], Optimizer]] = {
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
    "adamw": lambda p, lr: torch.optim.AdamW(p, lr=lr),
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=SGD_MOMENTUM),
}


def resolve_optimizer(optimizer: Any = None, lr: float | None = None) -> OptimSpec:
    """An OptimSpec from a name, an Optimizer class or instance, or a factory callable."""
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ConfigError(f"lr must be a positive number, got {lr!r}")
    if optimizer is None or isinstance(optimizer, str):
        name = (optimizer or DEFAULT_OPTIMIZER).lower()
        if name not in _NAMED:
            raise ConfigError(
                f"optimizer must be one of {', '.join(map(repr, _NAMED))}, an "
                f"Optimizer class or instance, or a callable, got {optimizer!r}"
            )
        label = "Adam" if name == "adam" else "AdamW" if name == "adamw" else "SGD(momentum=0.9)"
        return OptimSpec(
            label, float(lr or DEFAULT_LR), _NAMED[name], optimizer is not None or lr is not None
        )
    if isinstance(optimizer, Optimizer):
        cls, defaults = type(optimizer), dict(optimizer.defaults)
        base = float(optimizer.param_groups[0]["lr"])
        return OptimSpec(
            cls.__name__, float(lr or base), lambda p, r: cls(p, **{**defaults, "lr": r}), True
        )
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        if lr is None:
            raise ConfigError(
                f"optimizer={optimizer.__name__} needs lr=...; or pass an "
                f"instance or a callable that sets it"
            )
        klass: Any = optimizer  # a subclass: its constructor takes lr=
        return OptimSpec(optimizer.__name__, float(lr), lambda p, r: klass(p, lr=r), True)
    if callable(optimizer):
        fn = optimizer
        probe = fn([nn.Parameter(torch.zeros(1))])
        if not isinstance(probe, Optimizer):
            raise ConfigError(
                f"optimizer callable returned {type(probe).__name__}, expected a "
                f"torch.optim.Optimizer built from the parameters it is given"
            )
        base = float(probe.param_groups[0]["lr"])

        def factory(params: Iterable[nn.Parameter], r: float) -> Optimizer:
            opt = fn(params)
            for group in opt.param_groups:
                group["lr"] = r
            return opt

        return OptimSpec(type(probe).__name__, float(lr or base), factory, True)
    raise ConfigError(
        f"optimizer must be a name, an Optimizer class or instance, or a "
        f"callable, got {type(optimizer).__name__}"
    )


def forward(model: nn.Module, x: Tensor) -> Tensor:
    """The model's output for a batch; the first element when it returns a tuple."""
    out = model(x)
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        out = out[0]
    if not isinstance(out, Tensor):
        raise TypeError(f"the model returned {type(out).__name__}, expected a tensor")
    return out


def device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


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
        x, y = split.x[i : min(i + EVAL_BATCH, n)], split.y[i : min(i + EVAL_BATCH, n)]
        out = forward(model, x.to(device))
        loss += float(problem.loss_fn(out, y.to(device))) * len(x)
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
    seconds: float = 0.0

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

    Stops after ``max_steps`` steps (the deterministic cap), when neither val error nor val
    loss has improved for ``patience`` epochs and ``PATIENCE_STEPS`` steps, when the loss is
    not finite, or after ``time_s`` seconds (a safety net for slow machines; at least one
    epoch, up to 200 steps, always runs). With no val split, the final weights are kept.
    """
    hist = TrainHistory()
    start = time.perf_counter()
    device = device_of(model)
    opt = optim.make(model.parameters())
    gen = torch.Generator().manual_seed(seed)
    n = len(train)
    best_err, best_loss, best_state, stale, best_step = math.inf, math.inf, None, 0, 0
    better_err = False
    per_epoch = math.ceil(n / batch_size)
    min_steps = min(200, per_epoch)
    every = max(1, math.ceil(EVAL_EVERY_STEPS / per_epoch))
    epoch = 0
    while not hist.stopped_by:
        epoch += 1
        model.train()
        losses = []
        for rows in torch.randperm(n, generator=gen).split(batch_size):
            x, y = train.x[rows].to(device), train.y[rows].to(device)
            loss = problem.loss_fn(forward(model, x), y)
            if not torch.isfinite(loss).all():
                hist.stopped_by = "non-finite loss"
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            hist.steps += 1
            if hist.steps >= max_steps:
                hist.stopped_by = "max steps"
                break
            if time.perf_counter() - start > time_s and hist.steps >= min_steps:
                hist.stopped_by = "time"
                break
        if not losses:
            break
        if epoch % every and not hist.stopped_by:
            continue
        row = {"epoch": float(epoch), "train_loss": sum(losses) / len(losses)}
        if val is not None:  # without val (cross-fitting) there is nothing to decide on
            row["train_error"] = evaluate(model, train, problem, limit=eval_limit)[0]
            row["val_error"], row["val_loss"] = evaluate(model, val, problem, limit=eval_limit)
            better_err = row["val_error"] < best_err - 1e-3
            # a falling val loss counts while train error is not 0 (a CTC model's error
            # stays at 100% for a while); after that only the error matters here
            better_loss = (
                row["val_loss"] < best_loss - 1e-3 * abs(best_loss) and row["train_error"] > 0
            )
            if better_err or better_loss:
                stale, best_step = 0, hist.steps
            else:
                stale += 1
            best_loss = min(best_loss, row["val_loss"])
            if row["val_error"] <= best_err:
                best_err = row["val_error"]
                best_state = copy.deepcopy(model.state_dict())
        hist.epochs.append(row)
        if hist.stopped_by:
            break
        if stale >= patience and hist.steps - best_step >= PATIENCE_STEPS:
            hist.stopped_by = "no val improvement"
        elif row.get("train_error") == 0.0 and not better_err:
            hist.stopped_by = "train error reached 0"
    if best_state is not None:
        model.load_state_dict(best_state)
    hist.seconds = time.perf_counter() - start
    return hist
