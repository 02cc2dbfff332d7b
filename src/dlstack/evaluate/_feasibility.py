"""Feasibility (`dlstack scope`): how error falls with data, and what the requirement costs.

The practice: ML project cost grows super-linearly with the accuracy required, so measure
before promising. :func:`scope` trains the project's model on growing fractions of the
train split, measures each one's error on the val split, fits the learning curve
(:mod:`dlstack.evaluate._learning_curve`) and answers: the error expected with N times more
data, and the data needed to meet ``[metric] requirement`` (or that it looks out of reach).
It also measures the time per epoch here and estimates time and cost on common GPUs
(:mod:`dlstack.evaluate._compute`), for today's train split and for the data the
requirement needs (:func:`dlstack.evaluate._scope_result.price_needed`).

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
from dlstack.evaluate._learning_curve import fit_power_law
from dlstack.evaluate._scope_result import ScopePoint, ScopeResult, price_needed

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
        width=cfg.model.width if architecture is None else None,
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
    # What the requirement's data would cost, not only today's: the question scope answers.
    result.compute_needed, unpriced = price_needed(result.compute, result.needed, result.n_train)
    if unpriced is not None:
        result.notes.append(unpriced)
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
    width: int | None = None,
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

    from dlstack.models import build_model
    from dlstack.train import Normalization, get_task, make_optimizer

    clean = sorted({float(f) for f in fractions})
    if not clean or clean[0] <= 0 or clean[-1] > 1:
        raise DataError(f"fractions must be in (0, 1], got {list(fractions)}")
    if epochs < 1:
        raise DataError(f"epochs must be >= 1, got {epochs}")
    if snapshot.table is not None:
        raise DataError(
            "scope measures learning curves of image models; this data's examples hold a "
            "table row (alone or with an image), which it does not train yet"
        )
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
        # As training does, from this fraction's train split only: the input's
        # normalization (images or a table), a regression's target mean and std.
        normalization = Normalization.fit(train, snapshot.table)
        task_impl.fit(train.y)
        x = torch.from_numpy(normalization.model_input(train))  # (n, C, H, W) or (n, D)
        y = task_impl.targets(train.y)
        x_eval = torch.from_numpy(normalization.model_input(target))
        y_eval = task_impl.targets(target.y)
        shape = tuple(x.shape[1:])
        torch.manual_seed(seed)
        model, _ = build_model(
            architecture, shape, num_classes, width=width, search_path=search_path
        )
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
