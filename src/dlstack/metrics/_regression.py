"""Regression metrics (MAE, RMSE, R^2; overall and per target), computed by torchmetrics.

Computed in float64: the numbers are in the target's own units, and a person compares
them with what scikit-learn prints for the same predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlstack.errors import DataError

__all__ = ["RegressionMetrics", "regression_metrics"]


@dataclass(frozen=True)
class RegressionMetrics:
    """Scores of predicted numbers against the true ones, shape (n, targets).

    ``mae``, ``rmse`` and ``r2`` are the means of the per-target numbers (scikit-learn's
    ``multioutput="uniform_average"``); a target's R^2 is NaN when the target is constant
    on the split (no variance to explain), and then so is ``r2``.
    """

    n: int
    mae: float
    rmse: float
    r2: float
    mae_per_target: np.ndarray  # float64 (T,)
    rmse_per_target: np.ndarray  # float64 (T,)
    r2_per_target: np.ndarray  # float64 (T,)

    def summary(self) -> dict[str, float]:
        """The headline numbers (what trackers and model.json store)."""
        return {"mae": self.mae, "rmse": self.rmse, "r2": self.r2}

    def values(self, names: Sequence[str] | None = None) -> dict[str, float]:
        """Every number by the name an objective, a constraint or a test can use: ``mae``,
        ``rmse``, ``mse``, ``r2`` and per target ``mae[NAME]``, ``rmse[NAME]``, ``r2[NAME]``.

        >>> m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
        >>> m.values(["y"])["mae[y]"], round(m.values()["r2"], 3)
        (0.333..., 0.5)
        """
        out = {**self.summary(), "mse": self.rmse**2}
        labels = [str(n) for n in names] if names is not None else None
        for i in range(len(self.mae_per_target)):
            label = labels[i] if labels is not None and i < len(labels) else str(i)
            out[f"mae[{label}]"] = float(self.mae_per_target[i])
            out[f"rmse[{label}]"] = float(self.rmse_per_target[i])
            out[f"r2[{label}]"] = float(self.r2_per_target[i])
        return out


def regression_metrics(targets: np.ndarray, predictions: np.ndarray) -> RegressionMetrics:
    """MAE, RMSE and R^2 of ``predictions`` against ``targets`` ((n,) or (n, T)).

    >>> m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    >>> round(m.mae, 3), round(m.rmse, 3), round(m.r2, 3)
    (0.333, 0.577, 0.5)
    """
    import torch
    from torchmetrics.functional import mean_absolute_error, mean_squared_error, r2_score

    y = np.asarray(targets, dtype=np.float64)
    p = np.asarray(predictions, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    p = p[:, None] if p.ndim == 1 else p
    if y.shape != p.shape or y.ndim != 2:
        raise DataError(
            f"targets and predictions must both be (n,) or (n, targets) of one shape, got "
            f"{y.shape} and {p.shape}"
        )
    if len(y) == 0:
        raise DataError("cannot compute metrics on an empty split; check the data version")
    if not (np.isfinite(y).all() and np.isfinite(p).all()):
        raise DataError("targets or predictions contain NaN or infinite values")
    t_y, t_p = torch.from_numpy(y), torch.from_numpy(p)
    mae = np.array([float(mean_absolute_error(t_p[:, j], t_y[:, j])) for j in range(y.shape[1])])
    rmse = np.array(
        [float(mean_squared_error(t_p[:, j], t_y[:, j], squared=False)) for j in range(y.shape[1])]
    )
    r2 = np.array(
        [
            float(r2_score(t_p[:, j], t_y[:, j])) if _has_variance(y[:, j]) else float("nan")
            for j in range(y.shape[1])
        ]
    )
    return RegressionMetrics(
        n=len(y),
        mae=float(mae.mean()),
        rmse=float(rmse.mean()),
        r2=float(np.mean(r2)) if np.isfinite(r2).all() else float("nan"),
        mae_per_target=mae,
        rmse_per_target=rmse,
        r2_per_target=r2,
    )


def _has_variance(values: np.ndarray) -> bool:
    """R^2 needs two examples and a target that varies."""
    return len(values) >= 2 and float(np.var(values)) > 0.0
