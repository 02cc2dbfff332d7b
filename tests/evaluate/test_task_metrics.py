"""Regression and multilabel metrics and baselines, against scikit-learn on the same
predictions and the same split (the reference a person would compute by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from dlstack.data import Snapshot
from dlstack.evaluate import baseline_suite, baselines
from dlstack.evaluate._preflight import known_metrics
from dlstack.evaluate._slices import task_slice_metrics
from dlstack.metrics import multilabel_metrics, regression_metrics
from dlstack.objective import Objective, lower_is_better

RNG = np.random.default_rng(0)


def test_regression_metrics_equal_scikit_learns() -> None:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    y = RNG.normal(size=(80, 2)) * [10.0, 0.5] + [150.0, 0.0]
    p = y + RNG.normal(size=(80, 2)) * [5.0, 0.2]
    m = regression_metrics(y, p)
    assert m.mae == pytest.approx(mean_absolute_error(y, p), rel=1e-12)
    assert m.rmse == pytest.approx(root_mean_squared_error(y, p), rel=1e-12)
    assert m.r2 == pytest.approx(r2_score(y, p), rel=1e-12)
    values = m.values(["dose", "rate"])
    assert values["r2[rate]"] == pytest.approx(r2_score(y[:, 1], p[:, 1]), rel=1e-12)
    assert values["mae[dose]"] == pytest.approx(mean_absolute_error(y[:, 0], p[:, 0]))
    assert values["mse"] == pytest.approx(m.rmse**2)
    # One target as (n,) or (n, 1): the same numbers.
    assert regression_metrics(y[:, 0], p[:, 0]).r2 == pytest.approx(r2_score(y[:, 0], p[:, 0]))
    # A constant target has no variance to explain: R^2 is NaN, not a made-up 0 or 1.
    assert np.isnan(regression_metrics(np.ones(5), np.arange(5.0)).r2)


def test_multilabel_metrics_equal_scikit_learns() -> None:
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        f1_score,
        hamming_loss,
        precision_score,
        recall_score,
    )

    y = (RNG.random((120, 4)) < [0.5, 0.3, 0.1, 0.0]).astype(int)  # the last class: never
    probs = np.clip(y * 0.6 + RNG.random((120, 4)) * 0.5, 0, 1)
    decided = (probs >= 0.5).astype(int)
    m = multilabel_metrics(y, probs)
    kw = {"zero_division": 0}
    assert m.f1_macro == pytest.approx(f1_score(y, decided, average="macro", **kw), rel=1e-6)
    assert m.f1_micro == pytest.approx(f1_score(y, decided, average="micro", **kw), rel=1e-6)
    assert m.precision_macro == pytest.approx(
        precision_score(y, decided, average="macro", **kw), rel=1e-6
    )
    assert m.recall_macro == pytest.approx(
        recall_score(y, decided, average="macro", **kw), rel=1e-6
    )
    np.testing.assert_allclose(m.f1, f1_score(y, decided, average=None, **kw), rtol=1e-6)
    assert m.hamming_loss == pytest.approx(hamming_loss(y, decided))
    assert m.exact_match == pytest.approx(accuracy_score(y, decided))  # subset accuracy
    present = [0, 1, 2]
    ap = [average_precision_score(y[:, j], probs[:, j]) for j in present]
    np.testing.assert_allclose(m.average_precision[present], ap, rtol=1e-6)
    assert np.isnan(m.average_precision[3])  # no example holds it: no PR curve
    assert m.map == pytest.approx(np.mean(ap), rel=1e-6)
    values = m.values(["a", "b", "c", "d"])
    assert values["f1[b]"] == pytest.approx(f1_score(y[:, 1], decided[:, 1]), rel=1e-6)
    assert values["error"] == values["hamming_loss"] and values["f1"] == values["f1_macro"]
    # Per-class thresholds decide per class.
    cut = [0.9, 0.5, 0.5, 0.5]
    tuned = multilabel_metrics(y, probs, cut)
    want = f1_score(y[:, 0], (probs[:, 0] >= 0.9).astype(int))
    assert tuned.f1[0] == pytest.approx(want, rel=1e-6)


def test_objectives_read_the_new_metrics_the_right_way_up() -> None:
    assert lower_is_better("mae") and lower_is_better("rmse[y]") and lower_is_better("hamming_loss")
    assert not lower_is_better("r2") and not lower_is_better("map")
    better = Objective.parse("rmse").best({"a": {"rmse": 3.0}, "b": {"rmse": 2.0}})
    assert better.name == "b"
    assert {"mae[y]", "r2", "rmse"} <= known_metrics(["y"], "regression")
    assert {"f1[cat]", "ap[dog]", "map", "f1_macro"} <= known_metrics(["cat", "dog"], "multilabel")


def regression_snapshot(n: int = 300) -> Snapshot:
    """A table snapshot of 5 features and two numeric targets (linear plus noise)."""

    x = RNG.normal(size=(n, 5))
    y = np.stack([x @ [3, -2, 1, 0, 0] + 40, x @ [0, 0, 0, 1, 2]], axis=1)
    y += RNG.normal(size=y.shape) * 0.5
    return _table_snapshot(x, y.astype(np.float32), ("y1", "y2"), "regression")


def multilabel_snapshot(n: int = 300) -> Snapshot:
    x = RNG.normal(size=(n, 4))
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0.5, x[:, 3] > 1.0], axis=1)
    return _table_snapshot(x, y.astype(np.float32), ("cat", "dog", "cow"), "multilabel")


def _table_snapshot(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], task: str) -> Snapshot:
    from dlstack.inputs import Column, TableSpec

    n = len(x)
    splits = np.array([0] * int(0.7 * n) + [1] * int(0.1 * n), dtype=np.uint8)
    splits = np.concatenate([splits, np.full(n - len(splits), 2, np.uint8)])
    table = TableSpec(tuple(Column(f"x{j}", "numeric") for j in range(x.shape[1])))
    return Snapshot(
        "v-test",
        names,
        np.zeros((n, 0), np.uint8),
        np.zeros(n, np.int64),
        splits,
        np.array([f"{i:064x}" for i in range(n)]),
        None,
        x,
        table,
        task,
        y,
    )


def test_regression_baselines_equal_scikit_learns_dummy_and_linear_regression() -> None:
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    snap = regression_snapshot()
    train, test = snap.split("train"), snap.split("test")
    y_train, y_test = train.targets.astype(np.float64), test.targets.astype(np.float64)
    found = {b.name: b for b in baselines(snap)}
    assert list(found) == ["mean", "linear_regression"]
    mean = DummyRegressor().fit(train.features, y_train).predict(test.features)
    assert found["mean"].metrics["r2"] == pytest.approx(r2_score(y_test, mean), rel=1e-9)
    linear = LinearRegression().fit(train.features, y_train).predict(test.features)
    # Standardized inputs change nothing for least squares: the same predictions.
    want = r2_score(y_test, linear)
    assert found["linear_regression"].metrics["r2"] == pytest.approx(want, rel=1e-9)
    assert want > 0.9 and found["mean"].metrics["r2"] < 0.05
    suite = baseline_suite(snap)
    assert [b.name for b in suite] == ["mean", "linear_regression", "neural_net"]


def test_multilabel_baselines_equal_scikit_learns_one_vs_rest_logistic_regression() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import StandardScaler

    from dlstack.evaluate._baselines import LOGREG_C, LOGREG_TOL

    snap = multilabel_snapshot()
    train, test = snap.split("train"), snap.split("test")
    found = {b.name: b for b in baselines(snap)}
    assert list(found) == ["label_frequency", "logistic_regression"]
    scaler = StandardScaler().fit(train.features)
    ovr = OneVsRestClassifier(LogisticRegression(C=LOGREG_C, tol=LOGREG_TOL, max_iter=200))
    ovr.fit(scaler.transform(train.features), train.targets.astype(int))
    decided = ovr.predict(scaler.transform(test.features))
    want = f1_score(test.targets, decided, average="macro", zero_division=0)
    assert found["logistic_regression"].metrics["f1_macro"] == pytest.approx(want, rel=1e-5)
    # Label frequency gives every class held by half the train examples or more.
    frequency = train.targets.mean(axis=0)
    given = np.tile(frequency >= 0.5, (len(test.targets), 1)).astype(int)
    want = f1_score(test.targets, given, average="macro", zero_division=0)
    assert found["label_frequency"].metrics["f1_macro"] == pytest.approx(want, rel=1e-5)


def test_slices_of_a_regression_and_a_multilabel_use_their_metrics() -> None:
    y = np.array([[1.0], [2.0], [3.0], [10.0], [20.0], [30.0]])
    p = y + np.array([[0.5], [-0.5], [0.5], [5.0], [-5.0], [5.0]])
    rows = task_slice_metrics(
        "regression", y, p, p, {"site": np.array(["a"] * 3 + ["b"] * 3)}, classes=["y"]
    )
    assert [(r.key, r.value, round(r.metrics["mae"], 3)) for r in rows] == [
        ("site", "a", 0.5),
        ("site", "b", 5.0),
    ]
    y2 = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.6, 0.1]])
    rows = task_slice_metrics("multilabel", y2, (probs >= 0.5) * 1.0, probs, {}, classes=["c", "d"])
    by_class = {r.value: r for r in rows}
    assert by_class["c"].n == 2 and by_class["c"].metrics["precision"] == pytest.approx(2 / 3)
    assert by_class["d"].metrics["recall"] == pytest.approx(0.5)
