"""One or more numbers per example: mean squared error on standardized targets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection

from dlstack.errors import ModelError
from dlstack.train._tasks import Task, check_shape

__all__ = ["OutputScaling", "RegressionTask"]


class RegressionTask(Task):
    """Targets (N, T) standardized with the train split's mean and std, so every target
    weighs the same in the loss and the last layer starts at the right scale; the logged
    metrics (RMSE, MAE) are in the target's own units.

    The model learns the standardized numbers; ``scaling`` (mean and std per target)
    turns them back, and the trained model later stages get has it built in
    (:class:`OutputScaling`): evaluation, export and serving see the target's units.

    >>> task = RegressionTask(); task.fit(np.array([[1.0], [3.0]]))
    >>> task.targets(np.array([[3.0]])).tolist(), task.scaling
    ([[1.0]], {'mean': [2.0], 'std': [1.0]})
    """

    name = "regression"
    output_kind = "values"
    monitor = "val_rmse"
    monitor_mode = "min"

    def __init__(self, scaling: dict[str, list[float]] | None = None) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        if scaling is not None:
            self.mean = np.asarray(scaling["mean"], dtype=np.float64)
            self.std = np.asarray(scaling["std"], dtype=np.float64)

    def fit(self, train_targets: np.ndarray) -> None:
        y = np.asarray(train_targets, dtype=np.float64).reshape(len(train_targets), -1)
        self.mean = y.mean(axis=0)
        std = y.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)  # a constant target: shifted only

    @property
    def scaling(self) -> dict[str, list[float]]:
        mean, std = self._stats()
        return {"mean": mean.tolist(), "std": std.tolist()}

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None or self.std is None:
            raise ModelError("RegressionTask.fit(train targets) must run before its targets")
        return self.mean, self.std

    def targets(self, labels: np.ndarray) -> Tensor:
        mean, std = self._stats()
        y = (np.asarray(labels, dtype=np.float64).reshape(len(labels), -1) - mean) / std
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))  # (N, T)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.mse_loss(outputs, targets)

    def predictions(self, outputs: Tensor) -> Tensor:
        return outputs

    def error_rate(self, outputs: Tensor, targets: Tensor) -> float:
        """Squared error relative to predicting the mean (1 - R^2 of standardized
        targets): 1 is no better than the mean, 0 a perfect fit."""
        spread = targets.var(unbiased=False).clamp_min(1e-12)
        return float(F.mse_loss(outputs, targets) / spread)

    def make_metrics(self, num_classes: int) -> MetricCollection:
        from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError

        return MetricCollection(
            {"rmse": MeanSquaredError(squared=False), "mae": MeanAbsoluteError()}
        )

    def update_metrics(self, metrics: MetricCollection, outputs: Tensor, targets: Tensor) -> None:
        # In the target's units, pooled over targets: what a person reads in the epoch log.
        mean, std = (
            torch.as_tensor(a, dtype=outputs.dtype, device=outputs.device) for a in self._stats()
        )
        metrics.update((outputs * std + mean).flatten(), (targets * std + mean).flatten())

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        mean, std = self._stats()
        return (outputs.astype(np.float64) * std + mean).astype(np.float32)

    def values(
        self, outputs: np.ndarray, targets: np.ndarray, names: Sequence[str]
    ) -> dict[str, float]:
        from dlstack.metrics import regression_metrics

        return regression_metrics(targets, self.scores(outputs)).values(tuple(names))

    def check_outputs(self, outputs: Tensor, batch_size: int, num_classes: int) -> None:
        super().check_outputs(outputs, batch_size, num_classes)
        check_shape(outputs, batch_size, num_classes, "one value per target")


class OutputScaling(torch.nn.Module):
    """``model(x) * std + mean``: a regression model answering in the target's units."""

    def __init__(self, model: torch.nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x) * self.std + self.mean
