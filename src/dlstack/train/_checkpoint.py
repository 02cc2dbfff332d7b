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

from dlstack.metrics import classification_metrics
from dlstack.objective import Objective, Score

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
        inputs: torch.Tensor,
        targets: torch.Tensor,
        classes: Sequence[str],
    ) -> None:
        self.objective = objective
        self.inputs = inputs  # (N, *input_shape), standardized like training input
        self.targets = np.asarray(targets, dtype=np.int64)
        self.classes = tuple(classes)
        self.last: Score | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        was_training = pl_module.training
        pl_module.eval()
        device = pl_module.device
        chunks = []
        with torch.inference_mode():
            for i in range(0, len(self.inputs), _BATCH):
                logits = pl_module(self.inputs[i : i + _BATCH].to(device))
                chunks.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        pl_module.train(was_training)
        probs = np.concatenate(chunks)
        metrics = classification_metrics(
            self.targets, probs.argmax(axis=1).astype(np.int64), len(self.classes), probs
        ).values(self.classes)
        self.last = self.objective.score(metrics)
        pl_module.log(MONITOR, float(self.last.monitor_value), prog_bar=False)
