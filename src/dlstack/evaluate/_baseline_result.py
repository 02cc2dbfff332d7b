"""A baseline's result, and the settings every task's scikit-learn baselines share."""

from __future__ import annotations

from dataclasses import dataclass

from dlstack.metrics import (
    ClassificationMetrics,
    MultilabelMetrics,
    RegressionMetrics,
    TranscriptionMetrics,
)

__all__ = [
    "LOGREG_C",
    "LOGREG_MAX_ITER",
    "LOGREG_SOLVER",
    "LOGREG_TOL",
    "MLP_ALPHA",
    "MLP_HIDDEN",
    "MLP_MAX_ITER",
    "BaselineResult",
]

# lbfgs: scikit-learn's default multinomial solver, deterministic, and with a loose tol it
# converges in ~30 iterations on 4,000 x 784 MNIST (about 0.6 s on 2 cores, ~0.92 test
# accuracy). saga needs more passes; newton-cg is no faster here.
LOGREG_SOLVER = "lbfgs"
LOGREG_C = 0.1  # mild L2: standardized near-constant border pixels otherwise get huge weights
LOGREG_TOL = 1e-3  # 1e-4 (the default) takes ~4x the iterations for no accuracy gain
LOGREG_MAX_ITER = 200  # a safety cap; convergence is normally reached well before
# "A basic neural network": one hidden layer, scikit-learn's Adam. 40 passes reach ~0.94 on
# 4,000 MNIST digits (~0.96 on digits8) in a few seconds on 2 cores; more adds little.
MLP_HIDDEN = 64
MLP_MAX_ITER = 40
MLP_ALPHA = 1e-3  # mild L2, as for the logistic regression


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's scores on the evaluation split."""

    name: str
    description: str
    scores: ClassificationMetrics | MultilabelMetrics | RegressionMetrics | TranscriptionMetrics
    seconds: float = 0.0

    @property
    def metrics(self) -> dict[str, float]:
        return self.scores.summary()
