"""Feasibility (`dlstack scope`): how error falls with data, and what the requirement costs.

The practice: ML project cost grows super-linearly with the accuracy required, so measure
before promising. :func:`scope` trains the project's model on growing fractions of the
train split, measures each one's error on the val split, fits the learning curve
(:mod:`dlstack.evaluate._learning_curve`) and answers: the error expected with N times more
data, and the data needed to meet ``[metric] requirement`` (or that it looks out of reach).
It also measures the time per epoch here and estimates time and cost on common GPUs
(:mod:`dlstack.evaluate._compute`).

To stay practical on a laptop, each fraction is a short training run, not ``dlstack
train``: the same architecture, optimizer, learning rate and batch size as the project,
``epochs`` rounds (default :data:`DEFAULT_SCOPE_EPOCHS`, not ``train.max_epochs``) of at
least one pass each, and at least :data:`MIN_STEPS` optimizer steps in all so the smallest
subsets are not starved. The error is the best val error seen after a round (what early
stopping would keep). Nothing is written to the project's runs or MLflow. The curve
describes this budget; pass ``epochs=`` the real budget for the real curve.

>>> result = scope(project, snapshot, fractions=(0.1, 0.2, 0.4, 0.7, 1.0))  # doctest: +SKIP
>>> result.needed.describe()  # doctest: +SKIP
'about 21,000 training examples (5.3x the largest subset measured; ...)'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.config import DEFAULT_BATCH_SIZE, DEFAULT_LR, DEFAULT_OPTIMIZER
from dlstack.errors import DataError
from dlstack.evaluate._compute import (
    ComputeEstimate,
    estimate_compute,
    load_gpu_table,
    training_flops_per_example,
)
from dlstack.evaluate._learning_curve import (
    DEFAULT_BAND,
    OUT_OF_REACH_FACTOR,
    DataNeeded,
    PowerLawFit,
    fit_power_law,
)

if TYPE_CHECKING:
    import torch

    from dlstack.config import Project
    from dlstack.data import Snapshot
    from dlstack.train import Task

__all__ = [
    "DEFAULT_FRACTIONS",
    "DEFAULT_SCOPE_EPOCHS",
    "MIN_STEPS",
    "MORE_DATA_FACTORS",
    "ScopePoint",
    "ScopeResult",
    "measure_learning_curve",
    "scope",
]

# Six sizes, roughly doubling: 4+ points are needed for 3 parameters, and a doubling grid
# spreads them evenly on the log axis the power law is straight on.
DEFAULT_FRACTIONS = (0.05, 0.1, 0.2, 0.35, 0.6, 1.0)
DEFAULT_SCOPE_EPOCHS = 5  # short runs: the whole scope of digits finishes in minutes on 2 cores
MIN_STEPS = 60  # optimizer steps per subset at the least: 5% of 4,000 examples is 4 steps/pass
MORE_DATA_FACTORS = (2.0, 5.0, 10.0)
SCOPE_EVAL_BATCH = 512


@dataclass(frozen=True)
class ScopePoint:
    """One training subset: its size, the error it reached, what it cost."""

    fraction: float
    n_train: int
    error: float  # best val error seen (1 - accuracy)
    seconds: float  # training time (optimizer steps only)
    examples_seen: int  # examples processed by optimizer steps
    rounds: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "n_train": self.n_train,
            "error": self.error,
            "seconds": self.seconds,
            "examples_seen": self.examples_seen,
            "rounds": self.rounds,
        }


@dataclass
class ScopeResult:
    """The learning curve, its fit, and the answers to the feasibility questions."""

    points: list[ScopePoint]
    fit: PowerLawFit | None
    architecture: str
    epochs: int
    split: str
    data_version: str
    requirement: float | None  # required accuracy, from [metric] requirement
    needed: DataNeeded | None  # data to meet it (None without a requirement or a fit)
    more_data: list[tuple[float, float, float, float]] = field(default_factory=list)
    compute: ComputeEstimate | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def n_train(self) -> int:
        """Examples in the full train split (the largest subset)."""
        return max(p.n_train for p in self.points)

    def curve(self, points: int = 60) -> dict[str, Any] | None:
        """The fit and its band on a log grid from the smallest subset to 10x the largest
        (further when the data needed for the requirement is further, up to 1000x)."""
        if self.fit is None:
            return None
        smallest = min(p.n_train for p in self.points)
        reach = 10.0
        if self.needed is not None and self.needed.factor is not None:
            reach = min(max(reach, self.needed.factor * 1.5), OUT_OF_REACH_FACTOR)
        grid = np.geomspace(smallest, self.n_train * reach, points)
        low, high = self.fit.band(grid, DEFAULT_BAND)
        return {
            "n": grid.tolist(),
            "error": self.fit.predict(grid).tolist(),
            "low": low.tolist(),
            "high": high.tolist(),
            "level": DEFAULT_BAND,
        }

    def to_dict(self) -> dict[str, Any]:
        needed = self.needed
        return {
            "architecture": self.architecture,
            "epochs": self.epochs,
            "split": self.split,
            "data_version": self.data_version,
            "points": [p.to_dict() for p in self.points],
            "fit": self.fit.to_dict() if self.fit else None,
            "curve": self.curve(),
            "requirement": self.requirement,
            "needed": None
            if needed is None
            else {
                "target_error": needed.target,
                "n": needed.n,
                "low": needed.low,
                "high": needed.high,
                "reachable_share": needed.reachable_share,
                "reachable": needed.reachable,
                "summary": needed.describe(),
            },
            "more_data": [
                {"factor": f, "error": e, "low": lo, "high": hi} for f, e, lo, hi in self.more_data
            ],
            "compute": self.compute.to_dict() if self.compute else None,
            "notes": self.notes,
            "seconds": self.seconds,
        }


def scope(
    project: Project,
    snapshot: Snapshot,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    epochs: int = DEFAULT_SCOPE_EPOCHS,
    architecture: str | None = None,
    split: str = "val",
    requirement: float | None = None,
    gpu_table: str | None = None,
    on_point: Callable[[ScopePoint], None] | None = None,
) -> ScopeResult:
    """Measure the learning curve of ``project``'s model on ``snapshot`` and answer.

    ``architecture`` overrides ``[model] architecture`` (``"mlp"`` is the fast choice);
    ``requirement`` overrides ``[metric] requirement`` (a required accuracy).
    """
    cfg = project.config
    started = time.perf_counter()
    arch = architecture or cfg.model.architecture
    points, model, input_shape = measure_learning_curve(
        snapshot,
        fractions=fractions,
        epochs=epochs,
        architecture=arch,
        task=cfg.project.task,
        optimizer=cfg.train.optimizer,
        lr=cfg.train.lr,
        weight_decay=cfg.train.weight_decay,
        batch_size=cfg.train.batch_size,
        seed=cfg.train.seed,
        split=split,
        search_path=str(project.root),
        on_point=on_point,
    )
    result = ScopeResult(
        points,
        None,
        arch,
        epochs,
        split,
        snapshot.version,
        requirement if requirement is not None else cfg.metric.requirement,
        None,
    )
    _answer(result)
    result.compute = _compute(
        points, model, input_shape, cfg.train.batch_size, cfg.train.max_epochs, gpu_table, project
    )
    result.seconds = time.perf_counter() - started
    return result


def _answer(result: ScopeResult) -> None:
    sizes = np.array([p.n_train for p in result.points], dtype=float)
    errors = np.array([p.error for p in result.points], dtype=float)
    if len(np.unique(sizes)) < 4:
        result.notes.append(
            f"only {len(np.unique(sizes))} distinct subset sizes: a learning curve needs 4 or "
            f"more; pass more fractions"
        )
        return
    if errors.max() == 0:
        result.notes.append("every subset reached zero error: there is nothing to extrapolate")
        return
    try:
        fit = fit_power_law(sizes, errors)
    except DataError as e:
        result.notes.append(str(e))
        return
    result.fit = fit
    result.more_data = [(f, *fit.error_at(f)) for f in MORE_DATA_FACTORS]
    if fit.b < 0.05:
        result.notes.append(
            f"the error barely falls with more data (exponent b = {fit.b:.3f}): the model is "
            f"limited by something else (capacity, training budget, label noise)"
        )
    if result.requirement is not None:
        target = 1 - result.requirement
        if target <= 0:
            result.notes.append("a requirement of 100% accuracy is never reachable by a fit")
        else:
            result.needed = fit.data_needed(target)


def _compute(
    points: list[ScopePoint],
    model: torch.nn.Module,
    input_shape: tuple[int, ...],
    batch_size: int,
    epochs: int,
    gpu_table: str | None,
    project: Project,
) -> ComputeEstimate | None:
    # The largest subset's rate: the most steps, the least start-up cost per step.
    largest = max(points, key=lambda p: p.n_train)
    seen, seconds, full = largest.examples_seen, largest.seconds, largest.n_train
    if seen == 0 or seconds <= 0:
        return None
    table = load_gpu_table(gpu_table, project_root=project.root)
    return estimate_compute(
        table,
        seconds_per_epoch=seconds / seen * full,
        examples_per_epoch=full,
        flops_per_example=training_flops_per_example(model, input_shape),
        batch_size=batch_size,
        epochs=epochs,
    )


def measure_learning_curve(
    snapshot: Snapshot,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    epochs: int = DEFAULT_SCOPE_EPOCHS,
    architecture: str = "auto",
    task: str = "classification",
    optimizer: str = DEFAULT_OPTIMIZER,
    lr: float = DEFAULT_LR,
    weight_decay: float = 0.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    split: str = "val",
    min_steps: int = MIN_STEPS,
    search_path: str | None = None,
    on_point: Callable[[ScopePoint], None] | None = None,
) -> tuple[list[ScopePoint], torch.nn.Module, tuple[int, ...]]:
    """Train a fresh model on each class-stratified fraction of train with dlstack.train's
    plain loop, ``task``'s loss and error; the best error on ``split`` after a round.

    Returns the points, the last model trained (for FLOP counting) and its input shape.
    """
    import torch

    from dlstack.inputs import channel_stats, to_model_input
    from dlstack.models import build_model
    from dlstack.train import get_task, make_optimizer

    clean = sorted({float(f) for f in fractions})
    if not clean or clean[0] <= 0 or clean[-1] > 1:
        raise DataError(f"fractions must be in (0, 1], got {list(fractions)}")
    if epochs < 1:
        raise DataError(f"epochs must be >= 1, got {epochs}")
    target = snapshot.split(split)
    if len(target) == 0 or len(snapshot.split("train")) == 0:
        raise DataError(
            f"scope needs train and {split} examples; data version {snapshot.version} has "
            f"{snapshot.counts()}"
        )
    num_classes = snapshot.num_classes
    points: list[ScopePoint] = []
    model: torch.nn.Module | None = None
    shape: tuple[int, ...] = ()
    task_impl = get_task(task)
    for fraction in clean:
        sub = snapshot.with_train_subset(None if fraction >= 1 else fraction, seed)
        train = sub.split("train")
        mean, std = channel_stats(train.images)
        x = torch.from_numpy(to_model_input(train.images, mean, std))  # (n, C, H, W)
        y = task_impl.targets(train.labels)
        x_eval = torch.from_numpy(to_model_input(target.images, mean, std))
        y_eval = task_impl.targets(target.labels)
        shape = tuple(x.shape[1:])
        torch.manual_seed(seed)
        model, _ = build_model(architecture, shape, num_classes, search_path=search_path)
        error, seconds, seen = _train_and_score(
            model,
            task_impl,
            (x, y),
            (x_eval, y_eval),
            make_optimizer(optimizer, model.parameters(), lr=lr, weight_decay=weight_decay),
            epochs=epochs,
            batch_size=batch_size,
            min_steps=min_steps,
            seed=seed,
        )
        point = ScopePoint(fraction, len(x), error, seconds, seen, epochs)
        points.append(point)
        if on_point is not None:
            on_point(point)
    assert model is not None
    return points, model, shape


def _train_and_score(
    model: torch.nn.Module,
    task: Task,
    train: tuple[torch.Tensor, torch.Tensor],
    held_out: tuple[torch.Tensor, torch.Tensor],
    optimizer: Any,
    *,
    epochs: int,
    batch_size: int,
    min_steps: int,
    seed: int,
) -> tuple[float, float, int]:
    """(best held-out error after a round, training seconds, examples seen): ``epochs``
    rounds of whole passes, at least ``min_steps / epochs`` steps each, so small subsets get
    several passes per round instead of starving."""
    from dlstack.train import EpochEnd, TensorRows, train_loop

    n = len(train[0])
    steps_per_pass = math.ceil(n / batch_size)
    passes = max(1, math.ceil(math.ceil(min_steps / epochs) / steps_per_pass))
    best = 1.0

    def after_epoch(end: EpochEnd) -> str | None:
        nonlocal best
        if end.epoch % passes == 0 or end.stopped_by:
            best = min(best, _error(model, task, *held_out))
        return None

    out = train_loop(
        model,
        TensorRows(*train),
        task.loss,
        optimizer,
        batch_size=batch_size,
        seed=seed,
        max_steps=epochs * passes * steps_per_pass,
        on_epoch=after_epoch,
    )
    return best, out.train_seconds, out.epochs * n


def _error(model: torch.nn.Module, task: Task, x: torch.Tensor, y: torch.Tensor) -> float:
    import torch

    model.eval()
    with torch.inference_mode():
        outputs = torch.cat(
            [model(x[i : i + SCOPE_EVAL_BATCH]) for i in range(0, len(x), SCOPE_EVAL_BATCH)]
        )
    return task.error_rate(outputs, y)
