"""The objective as Lightning's checkpoint monitor: the best checkpoint is the best one by
``[metric]``, not by validation accuracy.

After each validation epoch :class:`ObjectiveMonitor` runs the model over the val split,
scores it with the objective (:mod:`dlstack.objective`) and logs ``val_objective``:
the objective's value when every checkable constraint holds, far below any such value when
one is violated (:attr:`Score.monitor_value`), so ``ModelCheckpoint(monitor="val_objective",
mode="max")`` keeps the checkpoint the objective ranks first. Constraints on metrics a
checkpoint cannot have (latency, size) are left unchecked here; `dlstack test` checks them
on the package.

>>> monitor = ObjectiveMonitor(Objective.parse("recall"), x_val, y_val, classes)  # doctest: +SKIP
>>> best = ModelCheckpoint(monitor=MONITOR, mode="max")  # doctest: +SKIP
>>> trainer = L.Trainer(callbacks=[monitor, best])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from dlstack.inputs import input_rows, map_input, take_rows
from dlstack.objective import Objective, Score
from dlstack.train._tasks import ClassificationTask, Task

__all__ = ["MONITOR", "ObjectiveMonitor", "uses_objective"]

MONITOR = "val_objective"
_BATCH = 512  # no gradients: large batches are cheap


def uses_objective(config: Any) -> bool:
    """Whether ``[metric]`` asks for more than validation accuracy (the task's own monitor)."""
    objective = Objective.from_config(config)
    return not (
        objective.expression == "accuracy" and objective.maximize and not objective.constraints
    )


class ObjectiveMonitor(Callback):
    """Logs ``val_objective`` after every validation epoch; ``last`` holds the latest Score."""

    def __init__(
        self,
        objective: Objective,
        inputs: torch.Tensor | dict[str, torch.Tensor],
        targets: torch.Tensor | np.ndarray,
        classes: Sequence[str],
        task: Task | None = None,
    ) -> None:
        self.objective = objective
        self.inputs = inputs  # (N, *input_shape) or {name: (N, ...)}, as training input
        # The stored targets (SplitArrays.y): class indices, 0/1 per class, or numbers.
        self.targets = np.asarray(targets)
        self.classes = tuple(classes)
        self.task = task if task is not None else ClassificationTask()
        self.last: Score | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        was_training = pl_module.training
        pl_module.eval()
        device = pl_module.device
        chunks = []
        with torch.inference_mode():
            for i in range(0, input_rows(self.inputs), _BATCH):
                batch = take_rows(self.inputs, slice(i, i + _BATCH))
                outputs = pl_module(map_input(lambda t: t.to(device), batch))
                chunks.append(outputs.float().cpu().numpy())
        pl_module.train(was_training)
        # The task's metrics of the raw outputs (softmax, sigmoid or the target's units).
        metrics = self.task.values(np.concatenate(chunks), self.targets, self.classes)
        self.last = self.objective.score(metrics)
        pl_module.log(MONITOR, float(self.last.monitor_value), prog_bar=False)
