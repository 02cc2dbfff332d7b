"""The optimizer registry: every optimizer dlstack builds comes from here.

``[train] optimizer`` names one of :data:`dlstack.config.OPTIMIZERS`; the Lightning fit,
the plain loop (doctor, scope) and anything else that trains use :func:`make_optimizer`
or, when a caller may also hand in its own optimizer, :func:`resolve_optimizer`. The
practice's defaults (Adam, 3e-4, SGD's momentum 0.9) are :mod:`dlstack.config`'s.

>>> import torch
>>> opt = make_optimizer("sgd", torch.nn.Linear(2, 1).parameters(), lr=0.1)
>>> type(opt).__name__, opt.defaults["momentum"]
('SGD', 0.9)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from dlstack.config import DEFAULT_LR, DEFAULT_OPTIMIZER, SGD_MOMENTUM
from dlstack.errors import ConfigError

__all__ = ["OptimSpec", "make_optimizer", "make_schedule", "resolve_optimizer"]

Params = Iterable[nn.Parameter] | Iterable[dict[str, Any]]
Factory = Callable[[Params, float], Optimizer]

# name -> (label people read, builder(params, lr, weight_decay)); the names are
# dlstack.config.OPTIMIZERS (a test keeps them equal: config validates without torch).
_REGISTRY: dict[str, tuple[str, Callable[[Params, float, float], Optimizer]]] = {
    "adam": ("Adam", lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd)),
    "adamw": ("AdamW", lambda p, lr, wd: torch.optim.AdamW(p, lr=lr, weight_decay=wd)),
    "sgd": (
        f"SGD(momentum={SGD_MOMENTUM:g})",
        lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=SGD_MOMENTUM, weight_decay=wd),
    ),
}


def make_optimizer(
    name: str, params: Params, *, lr: float = DEFAULT_LR, weight_decay: float = 0.0
) -> Optimizer:
    """The optimizer registered as ``name`` over ``params``."""
    if name not in _REGISTRY:
        raise ConfigError(
            f"optimizer must be one of {', '.join(map(repr, _REGISTRY))}, got {name!r}"
        )
    return _REGISTRY[name][1](params, lr, weight_decay)


# OneCycle's warm-up share of the run: torch's default, 30% of the steps rising to lr.
ONECYCLE_WARMUP = 0.3


def make_schedule(
    name: str, optimizer: Optimizer, *, lr: float, steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """``[train] lr_schedule`` over ``steps`` optimizer steps: "cosine" decays lr to 0,
    "onecycle" rises from lr/25 to lr over the first 30% then falls to ~0 (torch's
    OneCycleLR with its defaults, the momentum cycle included).

    >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    >>> sched, lrs = make_schedule("cosine", opt, lr=0.1, steps=4), []
    >>> for _ in range(4):
    ...     opt.step(); sched.step(); lrs.append(round(sched.get_last_lr()[0], 4))
    >>> lrs
    [0.0854, 0.05, 0.0146, 0.0]
    """
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=steps, pct_start=ONECYCLE_WARMUP
        )
    raise ConfigError(f"lr_schedule must be 'constant', 'cosine' or 'onecycle', got {name!r}")


@dataclass(frozen=True)
class OptimSpec:
    """How to build the optimizer for a fresh copy of a model, at any learning rate."""

    name: str  # what people read: "Adam", "SGD(momentum=0.9)", the user's class name
    lr: float
    factory: Factory
    user_given: bool  # False: dlstack's default choice

    def make(
        self, params: Params, lr: float | None = None, *, regularize: bool = True
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


def resolve_optimizer(
    optimizer: Any = None, lr: float | None = None, *, weight_decay: float = 0.0
) -> OptimSpec:
    """An OptimSpec from a registered name (default Adam), an Optimizer class or instance
    (its class and hyperparameters are reused on fresh models), or a callable
    ``params -> Optimizer``; ``lr`` overrides the optimizer's learning rate."""
    if lr is not None and not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
        raise ConfigError(f"lr must be a positive number, got {lr!r}")
    if isinstance(optimizer, OptimSpec):
        return optimizer if lr is None else replace(optimizer, lr=float(lr))
    if optimizer is None or isinstance(optimizer, str):
        name = (optimizer or DEFAULT_OPTIMIZER).lower()
        if name not in _REGISTRY:
            raise ConfigError(
                f"optimizer must be one of {', '.join(map(repr, _REGISTRY))}, an "
                f"Optimizer class or instance, or a callable, got {optimizer!r}"
            )
        label, build = _REGISTRY[name]
        return OptimSpec(
            label,
            float(lr or DEFAULT_LR),
            lambda p, r: build(p, r, weight_decay),
            optimizer is not None or lr is not None,
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

        def factory(params: Params, r: float) -> Optimizer:
            opt = fn(params)
            for group in opt.param_groups:
                group["lr"] = r
            return opt

        return OptimSpec(type(probe).__name__, float(lr or base), factory, True)
    raise ConfigError(
        f"optimizer must be a name, an Optimizer class or instance, or a "
        f"callable, got {type(optimizer).__name__}"
    )
