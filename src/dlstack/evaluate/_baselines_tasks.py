"""The baselines of a regression and a multilabel task: what the model has to beat.

Fit on the train split, scored on the evaluation split with the task's own metric
function, like the classification baselines in ``_baselines``:

- regression: ``mean`` (always the train mean: scikit-learn's ``DummyRegressor``; its R^2
  is about 0), ``linear_regression`` (least squares on the standardized features;
  ridge on pixels, where plain least squares interpolates), ``neural_net`` (one hidden
  layer, ``MLPRegressor`` on standardized targets);
- multilabel: ``label_frequency`` (each class's train frequency as its probability),
  ``logistic_regression`` (one-vs-rest: one binary logistic regression per class),
  ``neural_net`` (``MLPClassifier``, which takes a set of classes natively).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from dlstack.evaluate._baseline_result import (
    LOGREG_C,
    LOGREG_MAX_ITER,
    LOGREG_SOLVER,
    LOGREG_TOL,
    MLP_ALPHA,
    MLP_HIDDEN,
    MLP_MAX_ITER,
    BaselineResult,
)
from dlstack.metrics import multilabel_metrics, regression_metrics

__all__ = ["RIDGE_ALPHA", "multilabel_baselines", "regression_baselines"]

RIDGE_ALPHA = 1.0  # scikit-learn's default: pixels outnumber the examples of a small set


def regression_baselines(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    *,
    what: str,
    seed: int = 0,
    neural_net: bool = False,
) -> list[BaselineResult]:
    """mean, linear regression (and the neural network) on flat standardized inputs."""
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    flat_train, flat_eval = _standardized(x_train, x_eval)
    out = []
    start = time.perf_counter()
    mean = DummyRegressor(strategy="mean").fit(flat_train, y_train)
    out.append(
        BaselineResult(
            "mean",
            "always predicts the train mean of each target",
            regression_metrics(y_eval, mean.predict(flat_eval).reshape(y_eval.shape)),
            time.perf_counter() - start,
        )
    )
    start = time.perf_counter()
    linear: Any = Ridge(alpha=RIDGE_ALPHA) if what == "pixels" else LinearRegression()
    linear.fit(flat_train, y_train)
    how = f"ridge, alpha={RIDGE_ALPHA}" if what == "pixels" else "least squares"
    out.append(
        BaselineResult(
            "linear_regression",
            f"linear regression on standardized {what} ({how})",
            regression_metrics(y_eval, linear.predict(flat_eval).reshape(y_eval.shape)),
            time.perf_counter() - start,
        )
    )
    if neural_net:
        start = time.perf_counter()
        scaler = StandardScaler().fit(y_train)  # as the model: standardized targets
        mlp = MLPRegressor(
            hidden_layer_sizes=(MLP_HIDDEN,),
            alpha=MLP_ALPHA,
            max_iter=MLP_MAX_ITER,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # stopping at MLP_MAX_ITER is the budget
            target = scaler.transform(y_train)
            mlp.fit(flat_train, target.ravel() if target.shape[1] == 1 else target)
        predicted = scaler.inverse_transform(mlp.predict(flat_eval).reshape(len(flat_eval), -1))
        out.append(
            BaselineResult(
                "neural_net",
                f"one hidden layer of {MLP_HIDDEN} ReLU units on standardized {what} "
                f"(scikit-learn MLP, Adam, {mlp.n_iter_} passes)",
                regression_metrics(y_eval, predicted),
                time.perf_counter() - start,
            )
        )
    return out


def multilabel_baselines(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    *,
    what: str,
    seed: int = 0,
    neural_net: bool = False,
) -> list[BaselineResult]:
    """label frequency, one-vs-rest logistic regression (and the neural network)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neural_network import MLPClassifier

    flat_train, flat_eval = _standardized(x_train, x_eval)
    y_fit = y_train.astype(np.int64)
    out = []
    start = time.perf_counter()
    frequency = y_train.mean(axis=0)
    out.append(
        BaselineResult(
            "label_frequency",
            "gives each class its train frequency as probability (so every class held "
            "by at least half the train examples, and no other)",
            multilabel_metrics(y_eval, np.tile(frequency, (len(y_eval), 1))),
            time.perf_counter() - start,
        )
    )
    start = time.perf_counter()
    logreg = OneVsRestClassifier(
        LogisticRegression(
            solver=LOGREG_SOLVER, C=LOGREG_C, tol=LOGREG_TOL, max_iter=LOGREG_MAX_ITER
        )
    )
    # A class no train example holds (or all do): its probability is that constant.
    varies = y_fit.min(axis=0) != y_fit.max(axis=0)
    probabilities = np.tile(frequency, (len(y_eval), 1)).astype(np.float64)
    if varies.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence at the budget is reported below
            logreg.fit(flat_train, y_fit[:, varies])
        probabilities[:, varies] = logreg.predict_proba(flat_eval)
    out.append(
        BaselineResult(
            "logistic_regression",
            f"one-vs-rest logistic regression per class on standardized {what} "
            f"({LOGREG_SOLVER}, C={LOGREG_C}, tol={LOGREG_TOL})",
            multilabel_metrics(y_eval, probabilities),
            time.perf_counter() - start,
        )
    )
    if neural_net:
        start = time.perf_counter()
        mlp = MLPClassifier(
            hidden_layer_sizes=(MLP_HIDDEN,),
            alpha=MLP_ALPHA,
            max_iter=MLP_MAX_ITER,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlp.fit(flat_train, y_fit)
        scores = np.asarray(mlp.predict_proba(flat_eval)).reshape(len(flat_eval), -1)
        out.append(
            BaselineResult(
                "neural_net",
                f"one hidden layer of {MLP_HIDDEN} ReLU units on standardized {what} "
                f"(scikit-learn MLP, Adam, {mlp.n_iter_} passes)",
                multilabel_metrics(y_eval, scores),
                time.perf_counter() - start,
            )
        )
    return out


def _standardized(x_train: np.ndarray, x_eval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat float64 inputs standardized with train statistics (constant columns: scale 1)."""
    from sklearn.preprocessing import StandardScaler

    flat_train = x_train.reshape(len(x_train), -1).astype(np.float64)
    flat_eval = x_eval.reshape(len(x_eval), -1).astype(np.float64)
    scaler = StandardScaler().fit(flat_train)
    return scaler.transform(flat_train), scaler.transform(flat_eval)
