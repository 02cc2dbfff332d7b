"""Baselines: what a model has to beat before its numbers mean anything.

Both are fit on the train split and scored on the same split as the model, with the same
metric function, so the comparison is like for like:

- ``majority``: always predicts the most frequent train class (the floor).
- ``logistic_regression``: multinomial logistic regression on the raw pixels, standardized
  with train statistics (the "simple model" the practice tells you to try first).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dlstack.errors import DataError
from dlstack.evaluate.metrics import ClassificationMetrics, classification_metrics

if TYPE_CHECKING:
    from dlstack.data.snapshot import Snapshot

__all__ = [
    "LOGREG_C",
    "LOGREG_MAX_ITER",
    "LOGREG_SOLVER",
    "LOGREG_TOL",
    "BaselineResult",
    "baselines",
]

# lbfgs: scikit-learn's default multinomial solver, deterministic, and with a loose tol it
# converges in ~30 iterations on 4,000 x 784 MNIST (about 0.6 s on 2 cores, ~0.92 test
# accuracy). saga needs more passes; newton-cg is no faster here.
LOGREG_SOLVER = "lbfgs"
LOGREG_C = 0.1  # mild L2: standardized near-constant border pixels otherwise get huge weights
LOGREG_TOL = 1e-3  # 1e-4 (the default) takes ~4x the iterations for no accuracy gain
LOGREG_MAX_ITER = 200  # a safety cap; convergence is normally reached well before


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's scores on the evaluation split."""

    name: str
    description: str
    scores: ClassificationMetrics
    seconds: float = 0.0

    @property
    def metrics(self) -> dict[str, float]:
        return self.scores.summary()


def baselines(snapshot: Snapshot, *, split: str = "test", seed: int = 0) -> list[BaselineResult]:
    """Fit the majority-class and logistic-regression baselines on train, score on ``split``.

    >>> from dlstack.data import Snapshot
    >>> [b.name for b in baselines(Snapshot.from_builtin("digits8"))]
    ['majority', 'logistic_regression']
    """
    train = snapshot.split("train")
    target = snapshot.split(split)
    if len(train) == 0 or len(target) == 0:
        raise DataError(
            f"baselines need a non-empty train split and {split!r} split; data version "
            f"{snapshot.version} has {snapshot.counts()}"
        )
    c = snapshot.num_classes
    return [
        _majority(train.labels, target.labels, c, snapshot.classes),
        _logistic_regression(train.images, train.labels, target.images, target.labels, c, seed),
    ]


def _majority(
    y_train: np.ndarray, y_eval: np.ndarray, c: int, classes: tuple[str, ...]
) -> BaselineResult:
    start = time.perf_counter()
    freq = np.bincount(y_train, minlength=c) / len(y_train)
    top = int(freq.argmax())
    predictions = np.full(len(y_eval), top, dtype=np.int64)
    probabilities = np.tile(freq.astype(np.float32), (len(y_eval), 1))
    scores = classification_metrics(y_eval, predictions, c, probabilities)
    return BaselineResult(
        "majority",
        f"always predicts the most frequent train class, {classes[top]!r} "
        f"({freq[top]:.1%} of train)",
        scores,
        time.perf_counter() - start,
    )


def _logistic_regression(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    c: int,
    seed: int,
) -> BaselineResult:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    flat_train = x_train.reshape(len(x_train), -1).astype(np.float64)  # (n, H*W)
    flat_eval = x_eval.reshape(len(x_eval), -1).astype(np.float64)
    scaler = StandardScaler().fit(flat_train)  # constant pixels get scale 1, not 0
    model = LogisticRegression(
        solver=LOGREG_SOLVER,
        C=LOGREG_C,
        tol=LOGREG_TOL,
        max_iter=LOGREG_MAX_ITER,
        random_state=seed,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(scaler.transform(flat_train), y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    # Columns of predict_proba are the classes seen in train; place them among all classes.
    probabilities = np.zeros((len(y_eval), c), dtype=np.float32)
    probabilities[:, model.classes_] = model.predict_proba(scaler.transform(flat_eval))
    predictions = probabilities.argmax(axis=1).astype(np.int64)
    scores = classification_metrics(y_eval, predictions, c, probabilities)
    note = "" if converged else f"; did not converge in {LOGREG_MAX_ITER} iterations"
    return BaselineResult(
        "logistic_regression",
        f"multinomial logistic regression on standardized pixels ({LOGREG_SOLVER}, "
        f"C={LOGREG_C}, tol={LOGREG_TOL}{note})",
        scores,
        time.perf_counter() - start,
    )
