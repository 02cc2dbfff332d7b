"""Baselines on real data, scored on the same split as the model."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dlstack.data import Snapshot
from dlstack.evaluate import baselines


def test_digits8_baselines_have_the_expected_levels(digits8: Snapshot) -> None:
    start = time.perf_counter()
    results = {b.name: b for b in baselines(digits8)}
    assert list(results) == ["majority", "logistic_regression"]
    # Ten balanced classes: always guessing one is right about 1 time in 10.
    assert results["majority"].metrics["accuracy"] == pytest.approx(0.1, abs=0.03)
    # Pixels are nearly linearly separable for 8x8 digits; LR is a strong, cheap baseline.
    assert results["logistic_regression"].metrics["accuracy"] > 0.9
    # Same split as the model's evaluation: the same number of examples.
    n_test = len(digits8.split("test"))
    assert all(b.scores.n == n_test for b in results.values())
    assert "lbfgs" in results["logistic_regression"].description  # says how it was fit
    assert time.perf_counter() - start < 10  # keeps `dlstack evaluate` interactive


def test_split_is_respected(digits8: Snapshot) -> None:
    results = baselines(digits8, split="val")
    assert all(b.scores.n == len(digits8.split("val")) for b in results)


def test_majority_predicts_the_most_frequent_train_class() -> None:
    # 70% of examples are class 2: the majority baseline must say "2" and score its share.
    rng = np.random.default_rng(0)
    labels = np.array([2] * 140 + [0] * 30 + [1] * 30)
    images = rng.integers(0, 256, (len(labels), 4, 4), dtype=np.uint8)
    snap = Snapshot.from_arrays(images, labels, ("a", "b", "c"))
    majority = baselines(snap)[0]
    test_labels = snap.split("test").labels
    assert majority.metrics["accuracy"] == pytest.approx((test_labels == 2).mean(), abs=1e-6)
    assert "'c'" in majority.description
