"""The plain-PyTorch training loop: the doctor's short trainings and `dlstack scope`'s
learning curve run it; `dlstack train` runs Lightning (checkpoints, resume, tracking).

Visible top to bottom, nanoGPT-style: shuffle, forward, loss, backward, step. Each epoch
is one seeded permutation of the rows in batches (the last one smaller); after each
epoch the caller's ``on_epoch`` may evaluate and decide to stop. The loop itself stops on
a non-finite loss, after ``max_steps`` steps (the deterministic budget), or after
``time_s`` seconds once ``min_steps`` steps ran (only an outer cap for slow machines).

>>> import torch
>>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
>>> model = torch.nn.Linear(4, 2)
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> out = train_loop(model, TensorRows(x, y), torch.nn.functional.cross_entropy, opt,
...                  batch_size=16, seed=0, max_steps=10)
>>> out.steps, out.epochs, out.stopped_by
(10, 3, 'max steps')
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

__all__ = [
    "EpochEnd",
    "LoopResult",
    "NonFinite",
    "Rows",
    "TensorRows",
    "device_of",
    "forward",
    "train_loop",
]

LossFn = Callable[[Tensor, Tensor], Tensor]

STOP_MAX_STEPS = "max steps"
STOP_TIME = "time"
STOP_NONFINITE = "non-finite loss"
STOP_NONFINITE_GRAD = "non-finite gradient"


class Rows(Protocol):
    """Training rows that can be taken by index (a doctor Split, :class:`TensorRows`)."""

    def __len__(self) -> int: ...

    def take(self, rows: Tensor) -> tuple[Any, Any]: ...


@dataclass(frozen=True)
class TensorRows:
    """Inputs ``x`` (n, ...) and targets ``y`` (n, ...) as :class:`Rows`."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        return self.x[rows], self.y[rows]


@dataclass(frozen=True)
class EpochEnd:
    """What ``on_epoch`` sees after an epoch: its mean train loss and the totals so far.

    ``stopped_by`` is set when the loop stops anyway (budget, non-finite loss), so the
    caller can evaluate the final weights."""

    epoch: int  # 1-based
    steps: int  # total optimizer steps so far
    train_loss: float  # mean of this epoch's batch losses
    stopped_by: str


@dataclass(frozen=True)
class NonFinite:
    """Where a training met a non-finite loss (or, with ``check_grads``, gradient)."""

    step: int  # 0-based: the number of optimizer steps taken before it
    epoch: int  # 1-based
    batch: int  # 0-based, within the epoch
    rows: Tensor  # the batch's row numbers in ``data``
    what: str  # "loss", or "gradient of <parameter>"
    loss: float


@dataclass
class LoopResult:
    steps: int = 0
    epochs: int = 0
    stopped_by: str = ""  # "max steps", "time", "non-finite loss", or the callback's reason
    seconds: float = 0.0  # wall time, evaluation included
    train_seconds: float = 0.0  # time in forward/backward/step only
    nonfinite: NonFinite | None = None  # set when stopped by a non-finite loss or gradient


def _to_device(x: Any, device: torch.device) -> Any:
    """A tensor, or a tuple/list/dict of tensors (several inputs), moved to ``device``."""
    if isinstance(x, Tensor):
        return x.to(device)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_to_device(v, device) for v in x)
    return x


def forward(model: nn.Module, x: Any) -> Tensor:
    """The model's output for a batch; the first element when it returns a tuple."""
    out = model(x)
    if isinstance(out, tuple | list) and out and isinstance(out[0], Tensor):
        out = out[0]
    if not isinstance(out, Tensor):
        raise TypeError(f"the model returned {type(out).__name__}, expected a tensor")
    return out


def device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def train_loop(
    model: nn.Module,
    data: Rows,
    loss_fn: LossFn,
    optimizer: Optimizer,
    *,
    batch_size: int,
    seed: int,
    max_steps: int,
    time_s: float = math.inf,
    min_steps: int = 0,
    on_epoch: Callable[[EpochEnd], str | None] | None = None,
    check_grads: bool = False,
) -> LoopResult:
    """Train ``model`` in place; ``on_epoch`` returns a reason to stop, or None to go on.

    ``check_grads`` also stops (before the optimizer step, so the weights stay finite)
    on a non-finite gradient; ``result.nonfinite`` says where either was met."""
    result = LoopResult()
    start = time.perf_counter()
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)
    n = len(data)
    while not result.stopped_by:
        result.epochs += 1
        model.train()
        losses: list[float] = []
        t = time.perf_counter()
        for batch, rows in enumerate(torch.randperm(n, generator=generator).split(batch_size)):
            x, y = data.take(rows)
            loss = loss_fn(forward(model, _to_device(x, device)), _to_device(y, device))
            if not torch.isfinite(loss).all():
                result.stopped_by = STOP_NONFINITE
                result.nonfinite = NonFinite(
                    result.steps, result.epochs, batch, rows, "loss", float(loss.detach().sum())
                )
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            bad = _nonfinite_grad(model) if check_grads else None
            if bad is not None:
                result.stopped_by = STOP_NONFINITE_GRAD
                result.nonfinite = NonFinite(
                    result.steps,
                    result.epochs,
                    batch,
                    rows,
                    f"gradient of {bad}",
                    float(loss.detach()),
                )
                break
            optimizer.step()
            losses.append(float(loss.detach()))
            result.steps += 1
            if result.steps >= max_steps:
                result.stopped_by = STOP_MAX_STEPS
                break
            if time.perf_counter() - start > time_s and result.steps >= min_steps:
                result.stopped_by = STOP_TIME
                break
        result.train_seconds += time.perf_counter() - t
        if not losses:
            break
        if on_epoch is not None:
            mean = sum(losses) / len(losses)
            reason = on_epoch(EpochEnd(result.epochs, result.steps, mean, result.stopped_by))
            if reason and not result.stopped_by:
                result.stopped_by = reason
    result.seconds = time.perf_counter() - start
    return result


def _nonfinite_grad(model: nn.Module) -> str | None:
    """The parameter nearest the loss (backpropagation runs from the output back, so
    the last in definition order) whose gradient is not finite, or None."""
    bad = [
        name
        for name, p in model.named_parameters()
        if p.grad is not None and not bool(torch.isfinite(p.grad).all())
    ]
    return bad[-1] if bad else None
