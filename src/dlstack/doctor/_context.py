"""What every check reads and writes: the data, the pristine model, the budget, findings.

The doctor's trainings are budgeted in steps (:class:`StepPlan`, from the data and the
model's size, never from timing), so a verdict does not depend on how busy the machine
is. ``budget_s`` is only an outer cap: a training it cuts short is reported as such, as
info with what a full run would need, and no conclusion is drawn from its partial curve.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from dlstack.doctor._data import Split
from dlstack.doctor._findings import Finding, make
from dlstack.doctor._problem import LossFn, Problem
from dlstack.doctor._tree import Tree, index, to_device
from dlstack.train import OptimSpec, device_of

__all__ = ["Budget", "Context", "StepPlan", "plan_steps"]

PROBE_BATCH = 64  # examples in the batch the first checks look at

OVERFIT_STEPS = 1000  # one fixed batch of 32: a healthy model fits it in 10-500 steps
LR_STEPS = 100  # the minimum sweep of 1e-7..10 (12 steps a decade; Lightning's default)
MAX_TRAIN_STEPS = 3000  # the short training; early stopping (on val) usually ends it first
MIN_TRAIN_STEPS = 300  # the fewest steps a short training is planned with (before epochs)
MAX_EPOCHS = 300  # tiny train sets: 300 passes are plenty (40 examples: 300 steps)
# Heavy models get fewer steps: TRAIN_MACS multiply-adds for the short training (forward
# + backward ~ 3x the forward's). 1e12 is ~315 steps of dlstack's LeNet on 28x28 inputs
# (16.5M MACs an example, batch 64: 5 epochs of the 4,000 bundled digits). The last
# bench/doctor_speed.py run measured 81 ms a step there, evaluations included (2 CPU
# cores), so the training takes ~25 s and the whole examination fits the default budget_s
# with room to spare. Small MLPs (thousands of MACs) get MAX_TRAIN_STEPS.
TRAIN_MACS = 1e12
NOISE_STEPS = 800  # the two cross-fitting models of the label-noise check, together


@dataclass(frozen=True)
class StepPlan:
    """How many optimizer steps each of the doctor's trainings is planned with."""

    overfit: int
    lr_range: int
    training: int
    label_noise: int  # both halves together
    macs_per_example: int  # counted on the first batch (0: not counted)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def plan_steps(n_train: int, batch_size: int, macs_per_example: int) -> StepPlan:
    """The step budget from the train set's size and the model's multiply-adds per
    example; the same data and model always get the same plan.

    >>> plan_steps(600, 64, 5_000).training  # a small MLP on 600 examples
    3000
    >>> plan_steps(40, 64, 5_000).training  # 40 examples: one step an epoch, 300 epochs
    300
    >>> plan_steps(4000, 64, 16_500_000).training  # LeNet on 28x28 digits
    315
    """
    per_epoch = max(1, math.ceil(n_train / max(batch_size, 1)))
    by_compute = (
        int(TRAIN_MACS / (3 * macs_per_example * batch_size))
        if macs_per_example > 0
        else MAX_TRAIN_STEPS
    )
    training = min(MAX_TRAIN_STEPS, MAX_EPOCHS * per_epoch, max(MIN_TRAIN_STEPS, by_compute))
    return StepPlan(
        overfit=OVERFIT_STEPS,
        lr_range=LR_STEPS,
        training=training,
        label_noise=min(training, NOISE_STEPS),
        macs_per_example=int(macs_per_example),
    )


class Budget:
    """The wall-clock cap of the whole examination (``budget_s``): trainings run their
    planned steps and stop early only when the cap is reached. The trainings report the
    steps they took (:meth:`record`), so that a cut can say what a full run would need."""

    def __init__(self, total_s: float) -> None:
        self.total = float(total_s)
        self.start = time.perf_counter()
        self.steps = 0  # optimizer steps the doctor's trainings took so far
        self.train_seconds = 0.0  # and the time they took

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return max(0.0, self.total - self.elapsed())

    def spent(self) -> bool:
        return self.left() <= 0.0

    def record(self, steps: int, seconds: float) -> None:
        self.steps += steps
        self.train_seconds += seconds

    def suggest(self, planned_steps: int) -> int:
        """A budget_s for the whole examination with every training's ``planned_steps``:
        this machine's time a step so far, the rest of the time (checks, evaluations) as
        it was, and half as much again for a busier machine."""
        if self.steps:
            rest = max(0.0, self.elapsed() - self.train_seconds)
            need = 1.5 * (rest + self.train_seconds / self.steps * planned_steps)
        else:  # nothing trained yet: the checks before the trainings took all of it
            need = 4.0 * max(self.total, self.elapsed())
        need = max(need, 2.0 * self.total)
        step = 10 if need < 100 else 60
        return int(math.ceil(need / step) * step)


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
    steps: StepPlan | None = None
    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # "<check>: <why>; <what it needs>"
    blocked_by: str | None = None

    def add(self, finding: Finding) -> Finding:
        self.findings.append(finding)
        return finding

    def found(self, *codes: str) -> bool:
        """True when one of ``codes`` was found as an error or a warning."""
        return any(f.code in codes and f.severity != "info" for f in self.findings)

    def cut(self, code: str, check: str, done: int, planned: int) -> None:
        """``check`` (its findings would have code ``code``) was cut short by the time cap
        after ``done`` of ``planned`` steps (0: it never started): an info finding that
        says what it would need, and a line in the report's skipped list."""
        plan = self.steps
        total = plan.overfit + plan.lr_range + plan.training + plan.label_noise if plan else 0
        need = self.budget.suggest(total or planned)
        what = (
            f"cut short by the time cap (budget_s={self.budget.total:g}) after {done} of "
            f"{planned} steps"
            if done
            else f"not run: the time cap (budget_s={self.budget.total:g}) was spent before it"
        )
        self.skipped.append(f"{check}: {what}; rerun with budget_s={need}")
        self.add(
            make(
                code,
                f"not judged: the {check} was {what}",
                {
                    "applies": False,
                    "check": check,
                    "cut_short": True,
                    "steps_done": done,
                    "steps_planned": planned,
                    "budget_s": self.budget.total,
                    "suggested_budget_s": need,
                },
                severity="info",
                causes=[],
                next_step=f"rerun with budget_s={need} for a verdict",
            )
        )

    def skip(self, code: str, check: str, why: str) -> None:
        """``check`` cannot run on this model or data: an info finding saying why."""
        self.skipped.append(f"{check}: {why}")
        self.add(
            make(
                code,
                f"not checked: {why}",
                {"applies": False, "check": check},
                severity="info",
                causes=[],
                next_step="",
            )
        )

    def fresh_model(self) -> nn.Module:
        """A copy of the untouched model in train mode, safe to change and train."""
        torch.manual_seed(self.seed)
        model = copy.deepcopy(self.model)
        model.train()
        return model

    @property
    def device(self) -> torch.device:
        return device_of(self.model)

    def rows(self, n: int, split: Split | None = None) -> torch.Tensor:
        """A fixed, seeded random set of ``n`` row numbers of a split (train by default)."""
        split = split or self.train
        g = torch.Generator().manual_seed(self.seed)
        return torch.randperm(len(split), generator=g)[: min(n, len(split))]

    def probe(self, n: int = PROBE_BATCH) -> tuple[Tree, Tree]:
        """The batch the first checks run on, on the model's device."""
        x, y = self.train.take(self.rows(n))
        return to_device(x, self.device), to_device(y, self.device)

    def take(self, split: Split, rows: torch.Tensor | slice) -> tuple[Tree, Tree]:
        """Rows of a split, on the model's device."""
        x, y = index(split.x, rows), index(split.y, rows)
        return to_device(x, self.device), to_device(y, self.device)

    def splits(self) -> list[Split]:
        return [s for s in (self.train, self.val, self.test_val, self.test) if s is not None]
