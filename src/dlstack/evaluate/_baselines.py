"""Baselines: what a model has to beat before its numbers mean anything.

All are fit on the train split and scored on the same split as the model, with the same
metric function, so the comparison is like for like:

- ``majority``: always predicts the most frequent train class (the floor).
- ``rule:<name>``: a scripted rule (``dlstack.evaluate._rules``; dlstack ships ``digits``).
- ``logistic_regression``: multinomial logistic regression on the raw pixels, standardized
  with train statistics (the "simple model" the practice tells you to try first).
- ``neural_net``: a one-hidden-layer network on the same standardized pixels.

A line reader (ctc) has its own (``_baselines_ctc``): the most frequent train line, and
the model's CNN without its LSTM (in the suite).

:func:`baselines` computes the first and the third (fast, what the doctor and tests use);
:func:`baseline_suite` all of them; ``project_baselines`` adds what the project's config and
catalog know (external numbers, the human baseline) as :class:`~dlstack.evaluate.Reference`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import DataError
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
from dlstack.metrics import ClassificationMetrics, classification_metrics

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data import Snapshot, SplitArrays
    from dlstack.evaluate._references import Reference

__all__ = [
    "LOGREG_C",
    "LOGREG_MAX_ITER",
    "LOGREG_SOLVER",
    "LOGREG_TOL",
    "MLP_HIDDEN",
    "MLP_MAX_ITER",
    "BaselineResult",
    "baseline_suite",
    "baselines",
    "looks_like_digits",
    "project_baselines",
]


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
    if snapshot.task == "ctc":  # the learned line baseline trains for seconds: suite only
        from dlstack.evaluate._baselines_ctc import ctc_baselines

        return ctc_baselines(snapshot, split=split, seed=seed, neural_net=False)
    if snapshot.task != "classification":
        return task_baselines(snapshot, split=split, seed=seed)
    c = snapshot.num_classes
    x_train, x_target, what = _flat_inputs(snapshot, train, target)
    return [
        _majority(train.labels, target.labels, c, snapshot.classes),
        _logistic_regression(x_train, train.labels, x_target, target.labels, c, seed, what),
    ]


def _flat_inputs(
    snapshot: Snapshot, train: SplitArrays, target: SplitArrays
) -> tuple[np.ndarray, np.ndarray, str]:
    """What the classical baselines see: pixels, or a table's encoded features (the
    encoder fit on train, as the model's is); and the word for it."""
    if snapshot.table is None:
        return train.images, target.images, "pixels"
    from dlstack.inputs import TableEncoder

    assert train.features is not None and target.features is not None
    encoder = TableEncoder.fit(train.features, snapshot.table)
    return encoder.transform(train.features), encoder.transform(target.features), "features"


def baseline_suite(
    snapshot: Snapshot,
    *,
    split: str = "test",
    seed: int = 0,
    rules: Sequence[str] | None = None,
    neural_net: bool = True,
    search_path: str | Path | None = None,
) -> list[BaselineResult]:
    """Every computed baseline: majority, rules, logistic regression, neural network.

    ``rules=None`` uses the shipped ``digits`` rule when the classes are the digits 0-9
    and no rule otherwise; pass names or ``"module:function"`` specs to choose.

    >>> from dlstack.data import Snapshot
    >>> [b.name for b in baseline_suite(Snapshot.from_builtin("digits8"))]
    ['majority', 'rule:digits', 'logistic_regression', 'neural_net']
    """
    from dlstack.evaluate._rules import resolve_rule

    if snapshot.task == "ctc":
        from dlstack.evaluate._baselines_ctc import ctc_baselines

        return ctc_baselines(snapshot, split=split, seed=seed, neural_net=neural_net)
    if snapshot.task != "classification":
        return task_baselines(snapshot, split=split, seed=seed, neural_net=neural_net)
    first, logreg = baselines(snapshot, split=split, seed=seed)
    if rules is None:
        digits = looks_like_digits(snapshot.classes) and not snapshot.is_table
        rules = ("digits",) if digits else ()
    train, target = snapshot.split("train"), snapshot.split(split)
    out = [first]
    for spec in rules:
        name, fn, description = resolve_rule(spec, search_path)
        out.append(_rule(name, fn, description, train, target, snapshot.classes))
    out.append(logreg)
    if neural_net:
        x_train, x_target, what = _flat_inputs(snapshot, train, target)
        out.append(
            _neural_net(
                x_train, train.labels, x_target, target.labels, snapshot.num_classes, seed, what
            )
        )
    return out


def task_baselines(
    snapshot: Snapshot, *, split: str = "test", seed: int = 0, neural_net: bool = False
) -> list[BaselineResult]:
    """A multilabel or regression task's baselines (``_baselines_tasks``), on the same
    inputs the classification baselines see."""
    from dlstack.evaluate._baselines_tasks import multilabel_baselines, regression_baselines

    train, target = snapshot.split("train"), snapshot.split(split)
    if len(train) == 0 or len(target) == 0:
        raise DataError(
            f"baselines need a non-empty train split and {split!r} split; data version "
            f"{snapshot.version} has {snapshot.counts()}"
        )
    x_train, x_target, what = _flat_inputs(snapshot, train, target)
    make = regression_baselines if snapshot.task == "regression" else multilabel_baselines
    return make(
        x_train,
        np.asarray(train.y, dtype=np.float64),
        x_target,
        np.asarray(target.y, dtype=np.float64),
        what=what,
        seed=seed,
        neural_net=neural_net,
    )


def looks_like_digits(classes: Sequence[str]) -> bool:
    """Whether the classes are the ten digits (so the shipped digits rule applies)."""
    from dlstack.evaluate._rules import DIGIT_CLASSES

    return sorted(str(c) for c in classes) == list(DIGIT_CLASSES)


def _rule(
    name: str,
    fn: Any,
    description: str,
    train: SplitArrays,
    target: SplitArrays,
    classes: tuple[str, ...],
) -> BaselineResult:
    from dlstack.evaluate._rules import rule_predictions

    start = time.perf_counter()
    predictions, probabilities = rule_predictions(fn, target.images, classes, train)
    scores = classification_metrics(target.labels, predictions, len(classes), probabilities)
    return BaselineResult(
        f"rule:{name}",
        f"scripted rule: {description}" if description else "scripted rule",
        scores,
        time.perf_counter() - start,
    )


def _neural_net(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    c: int,
    seed: int,
    what: str = "pixels",
) -> BaselineResult:
    from sklearn.neural_network import MLPClassifier

    start = time.perf_counter()
    model = MLPClassifier((MLP_HIDDEN,), alpha=MLP_ALPHA, max_iter=MLP_MAX_ITER, random_state=seed)
    # Stopping at MLP_MAX_ITER is the budget, not a failure: "converged" is not reported.
    scores, _ = _fit_on_pixels(model, x_train, y_train, x_eval, y_eval, c)
    return BaselineResult(
        "neural_net",
        f"one hidden layer of {MLP_HIDDEN} ReLU units on standardized {what} "
        f"(scikit-learn MLP, Adam, {model.n_iter_} passes)",
        scores,
        time.perf_counter() - start,
    )


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
    what: str = "pixels",
) -> BaselineResult:
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    model = LogisticRegression(
        solver=LOGREG_SOLVER,
        C=LOGREG_C,
        tol=LOGREG_TOL,
        max_iter=LOGREG_MAX_ITER,
        random_state=seed,
    )
    scores, converged = _fit_on_pixels(model, x_train, y_train, x_eval, y_eval, c)
    note = "" if converged else f"; did not converge in {LOGREG_MAX_ITER} iterations"
    return BaselineResult(
        "logistic_regression",
        f"multinomial logistic regression on standardized {what} ({LOGREG_SOLVER}, "
        f"C={LOGREG_C}, tol={LOGREG_TOL}{note})",
        scores,
        time.perf_counter() - start,
    )


def _fit_on_pixels(
    model: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    c: int,
) -> tuple[ClassificationMetrics, bool]:
    """Fit a scikit-learn classifier on standardized flat pixels; (eval scores, converged)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    flat_train = x_train.reshape(len(x_train), -1).astype(np.float64)  # (n, H*W)
    flat_eval = x_eval.reshape(len(x_eval), -1).astype(np.float64)
    scaler = StandardScaler().fit(flat_train)  # constant pixels get scale 1, not 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(scaler.transform(flat_train), y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    # Columns of predict_proba are the classes seen in train; place them among all classes.
    probabilities = np.zeros((len(y_eval), c), dtype=np.float32)
    probabilities[:, model.classes_] = model.predict_proba(scaler.transform(flat_eval))
    predictions = probabilities.argmax(axis=1).astype(np.int64)
    return classification_metrics(y_eval, predictions, c, probabilities), converged


def project_baselines(
    project: Project, snapshot: Snapshot, *, split: str = "test", seed: int | None = None
) -> tuple[list[BaselineResult], list[Reference]]:
    """The project's baselines (per ``[metric.baselines]``) and its reference points.

    >>> results, refs = project_baselines(project, snapshot)  # doctest: +SKIP
    """
    from dlstack.evaluate._references import project_references

    cfg = project.config.metric.baselines
    results = baseline_suite(
        snapshot,
        split=split,
        seed=project.config.train.seed if seed is None else seed,
        rules=cfg.rules or None,
        neural_net=cfg.neural_net,
        search_path=project.root,
    )
    return results, project_references(project)
