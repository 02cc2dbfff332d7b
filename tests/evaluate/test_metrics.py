"""classification_metrics against scikit-learn, the reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from dlstack.errors import DataError
from dlstack.evaluate import classification_metrics

TOL = 1e-6


def _random_case(seed: int, n: int = 400, c: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    noisy = rng.integers(0, c, n)
    p = np.where(rng.random(n) < 0.55, y, noisy)
    p[p == c - 1] = 0  # class c-1 occurs in the targets but is never predicted
    return y, p


@pytest.mark.parametrize("seed", range(4))
def test_matches_sklearn_including_a_never_predicted_class(seed: int) -> None:
    c = 7
    y, p = _random_case(seed, c=c)
    assert (y == c - 1).any() and not (p == c - 1).any()  # the case under test is present
    m = classification_metrics(y, p, num_classes=c)

    # Headline numbers: sklearn with zero_division=0 is what torchmetrics computes.
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, p), abs=TOL)
    for ours, avg in [
        (m.precision_macro, "precision"),
        (m.recall_macro, "recall"),
        (m.f1_macro, "f1"),
    ]:
        ref = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[
            avg
        ](y, p, average="macro", zero_division=0)
        assert ours == pytest.approx(ref, abs=TOL), avg
    # Per class, and the never-predicted class has precision 0 (not NaN, not skipped).
    prec, rec, f1, support = skm.precision_recall_fscore_support(
        y, p, labels=list(range(c)), zero_division=0
    )
    np.testing.assert_allclose(m.precision, prec, atol=TOL)
    np.testing.assert_allclose(m.recall, rec, atol=TOL)
    np.testing.assert_allclose(m.f1, f1, atol=TOL)
    np.testing.assert_array_equal(m.support, support)
    assert m.precision[c - 1] == 0.0 and m.recall[c - 1] == 0.0
    # Rows are the true class, columns the prediction, as in sklearn.
    np.testing.assert_array_equal(m.confusion, skm.confusion_matrix(y, p, labels=range(c)))
    assert m.n == len(y)


def test_class_absent_everywhere_is_left_out_of_macro_like_sklearn_default() -> None:
    # num_classes=5 but class 4 appears nowhere: averaging over 5 would drag macro scores down
    # for a class that was never tested; torchmetrics and sklearn(labels=None) skip it.
    y, p = _random_case(1, c=4)
    m = classification_metrics(y, p, num_classes=5)
    assert m.f1_macro == pytest.approx(
        skm.f1_score(y, p, average="macro", zero_division=0), abs=TOL
    )
    assert m.confusion.shape == (5, 5) and m.confusion[4].sum() == 0


def test_calibration_error_matches_the_textbook_definition() -> None:
    # ECE: confidence-binned |accuracy - confidence|, weighted by bin size (15 equal bins).
    rng = np.random.default_rng(0)
    n, c = 500, 4
    logits = rng.normal(size=(n, c)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, c, n)
    pred = probs.argmax(1)
    conf = probs.max(1)
    bins = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    ece = sum(
        abs((pred[bins == b] == y[bins == b]).mean() - conf[bins == b].mean()) * (bins == b).mean()
        for b in range(15)
        if (bins == b).any()
    )
    m = classification_metrics(y, pred, c, probabilities=probs)
    assert m.calibration_error == pytest.approx(ece, abs=1e-5)
    assert set(m.summary()) == {
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "calibration_error",
    }


def test_perfect_predictions() -> None:
    y = np.array([0, 1, 2, 2, 1])
    m = classification_metrics(y, y, 3)
    assert (m.accuracy, m.precision_macro, m.recall_macro, m.f1_macro) == (1.0, 1.0, 1.0, 1.0)
    assert m.calibration_error is None  # no probabilities given, so no calibration


@pytest.mark.parametrize(
    ("targets", "predictions", "message"),
    [
        (np.array([0, 1]), np.array([0, 3]), "0..2"),  # a class index out of range
        (np.array([0, 1]), np.array([0]), "same length"),
        (np.array([], dtype=np.int64), np.array([], dtype=np.int64), "empty"),
        (np.array([0.0, 1.0]), np.array([0, 1]), "class indices"),  # floats, not indices
    ],
)
def test_bad_input_is_a_data_error_that_says_what(targets, predictions, message) -> None:
    with pytest.raises(DataError, match=message):
        classification_metrics(targets, predictions, 3)


def test_public_api_is_importable_and_cheap() -> None:
    # __init__ is the whole public API; every name in __all__ must exist.
    import dlstack.evaluate as api

    assert all(hasattr(api, name) for name in api.__all__)


def test_a_metric_equal_to_its_printed_threshold_meets_it() -> None:
    from dlstack.objective import Constraint

    # 9 of 10 right: float32 says 0.8999999762, the decimal is 0.9.
    targets = np.array([0] * 5 + [1] * 5)
    predictions = targets.copy()
    predictions[0] = 1
    m = classification_metrics(targets, predictions, 2)
    values = m.values(("a", "b"))
    assert values["accuracy"] == 0.9 and values["recall[a]"] == 0.8
    for text, holds in (
        ("accuracy >= 0.9", True),
        ("accuracy <= 0.9", True),
        ("accuracy > 0.9", False),
        ("accuracy < 0.9", False),
        ("recall[a] >= 0.8", True),
        ("error <= 0.1", True),  # 1 - 0.9 in float64 is 0.09999999999999998
        ("accuracy >= 0.9000001", False),
    ):
        assert Constraint.parse(text, "test").check(values)[0] is holds, text
