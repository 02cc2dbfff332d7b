"""What every check reads and writes: the data, the pristine model, the budget, findings."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from dlstack.doctor._data import Split
from dlstack.doctor._findings import Finding
from dlstack.doctor._problem import LossFn, Problem
from dlstack.train import OptimSpec, device_of

__all__ = ["Budget", "Context"]

PROBE_BATCH = 64  # examples in the batch the first checks look at


class Budget:
    """Wall-clock budget: each phase gets a share, never more than what is left."""

    def __init__(self, total_s: float) -> None:
        self.total = float(total_s)
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return max(0.0, self.total - self.elapsed())

    def share(self, fraction: float) -> float:
        return min(self.total * fraction, self.left())


@dataclass
class Context:
    """The examination's state. ``model`` is the pristine copy: checks copy it again."""

    model: nn.Module
    train: Split
    val: Split
    test: Split | None
    test_val: Split | None
    task: str
    loss_fn: LossFn
    loss_name: str
    user_loss: bool
    optim: OptimSpec
    batch_size: int
    seed: int
    budget: Budget
    human_error: float | None
    model_was_training: bool = True
    problem: Problem | None = None
    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    blocked_by: str | None = None

    def add(self, finding: Finding) -> Finding:
        self.findings.append(finding)
        return finding

    def found(self, *codes: str) -> bool:
        """True when one of ``codes`` was found as an error or a warning."""
        return any(f.code in codes and f.severity != "info" for f in self.findings)

    def fresh_model(self) -> nn.Module:
        """A copy of the untouched model in train mode, safe to change and train."""
        torch.manual_seed(self.seed)
        model = copy.deepcopy(self.model)
        model.train()
        return model

    @property
    def device(self) -> torch.device:
        return device_of(self.model)

    def rows(self, n: int, split: Split | None = None) -> Tensor:
        """A fixed, seeded random set of ``n`` row numbers of a split (train by default)."""
        split = split or self.train
        g = torch.Generator().manual_seed(self.seed)
        return torch.randperm(len(split), generator=g)[: min(n, len(split))]

    def probe(self, n: int = PROBE_BATCH) -> tuple[Tensor, Tensor]:
        """The batch the first checks run on, on the model's device."""
        x, y = self.train.take(self.rows(n))
        return x.to(self.device), y.to(self.device)

    def splits(self) -> list[Split]:
        return [s for s in (self.train, self.val, self.test_val, self.test) if s is not None]
