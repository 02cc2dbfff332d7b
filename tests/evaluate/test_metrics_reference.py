"""The metrics beyond the headline ones, against scikit-learn (the reference) on random data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from dlstack.errors import DataError
from dlstack.evaluate import (
    classification_metrics,
    pr_curve,
    roc_curve,
    transcription_metrics,
)

TOL = 1e-6


def _random_probs(seed: int, n: int = 300, c: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y]  # informative but noisy
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs.astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_micro_averages_match_sklearn(seed: int) -> None:
    y, probs = _random_probs(seed)
    p = probs.argmax(axis=1)
    m = classification_metrics(y, p, 5, probs)
    for ours, fn in [
        (m.precision_micro, skm.precision_score),
        (m.recall_micro, skm.recall_score),
        (m.f1_micro, skm.f1_score),
    ]:
        assert ours == pytest.approx(fn(y, p, average="micro"), abs=TOL)


@pytest.mark.parametrize("seed", range(3))
def test_average_precision_per_class_and_map_match_sklearn(seed: int) -> None:
    y, probs = _random_probs(seed)
    m = classification_metrics(y, probs.argmax(axis=1), 5, probs)
    reference = [skm.average_precision_score(y == k, probs[:, k]) for k in range(5)]
    assert m.average_precision is not None
    np.testing.assert_allclose(m.average_precision, reference, atol=TOL)
    assert m.map == pytest.approx(np.mean(reference), abs=TOL)
    # Macro one-vs-rest AUROC, as sklearn computes it.
    assert m.auroc_macro == pytest.approx(
        skm.roc_auc_score(y, probs, multi_class="ovr", average="macro"), abs=TOL
    )


def test_a_class_with_no_examples_is_left_out_of_map_not_counted_as_zero() -> None:
    y, probs = _random_probs(0, c=5)
    keep = y != 4  # class 4 never occurs: it has no PR curve at all
    m = classification_metrics(y[keep], probs[keep].argmax(axis=1), 5, probs[keep])
    assert m.average_precision is not None and np.isnan(m.average_precision[4])
    present = [skm.average_precision_score(y[keep] == k, probs[keep][:, k]) for k in range(4)]
    assert m.map == pytest.approx(np.mean(present), abs=TOL)
    assert m.auroc_macro is None  # undefined with an absent class: not a made-up number


@pytest.mark.parametrize("seed", range(3))
def test_pr_curve_matches_sklearn(seed: int) -> None:
    y, probs = _random_probs(seed)
    curve = pr_curve(y, probs, positive=2)
    precision, recall, thresholds = skm.precision_recall_curve(y == 2, probs[:, 2])
    np.testing.assert_allclose(curve.y, precision, atol=TOL)
    np.testing.assert_allclose(curve.x, recall, atol=TOL)
    np.testing.assert_allclose(curve.thresholds, thresholds, atol=TOL)
    assert curve.area == pytest.approx(skm.average_precision_score(y == 2, probs[:, 2]), abs=TOL)


@pytest.mark.parametrize("seed", range(3))
def test_roc_curve_matches_sklearn(seed: int) -> None:
    y, probs = _random_probs(seed)
    curve = roc_curve(y, probs[:, 1], positive=1)  # scores of the positive class given (n,)
    fpr, tpr, thresholds = skm.roc_curve(y == 1, probs[:, 1], drop_intermediate=False)
    np.testing.assert_allclose(curve.x, fpr, atol=TOL)
    np.testing.assert_allclose(curve.y, tpr, atol=TOL)
    # sklearn's first threshold is +inf, torchmetrics' is 1.0: both mean "nothing positive".
    np.testing.assert_allclose(curve.thresholds[1:], thresholds[1:], atol=TOL)
    assert curve.area == pytest.approx(skm.roc_auc_score(y == 1, probs[:, 1]), abs=TOL)


def test_values_names_aliases_and_per_class_labels() -> None:
    y, probs = _random_probs(1, c=3)
    m = classification_metrics(y, probs.argmax(axis=1), 3, probs)
    values = m.values(("cat", "dog", "owl"))
    # The short names people write in dlstack.toml are the macro averages.
    assert values["recall"] == values["recall_macro"] == m.recall_macro
    assert values["error"] == pytest.approx(1 - m.accuracy)
    assert values["recall[owl]"] == pytest.approx(skm.recall_score(y == 2, probs.argmax(1) == 2))
    assert {"map", "auroc", "f1_micro", "ap[dog]", "calibration_error"} <= set(values)


def _levenshtein(a: list[str] | str, b: list[str] | str) -> int:
    """The textbook dynamic program: the reference for CER/WER."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        prev, row[0] = row[0], i
        for j, z in enumerate(b, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != z))
    return row[-1]


def test_cer_and_wer_match_edit_distance_over_reference_length() -> None:
    refs = ["12 march 2024", "pay 1,250.00", "no 4471-2"]
    hyps = ["12 marsh 2024", "pay 1250.00 now", "no 4471-2"]
    got = transcription_metrics(refs, hyps)
    cer = sum(_levenshtein(r, h) for r, h in zip(refs, hyps, strict=True)) / sum(map(len, refs))
    wer = sum(_levenshtein(r.split(), h.split()) for r, h in zip(refs, hyps, strict=True)) / sum(
        len(r.split()) for r in refs
    )
    assert got.cer == pytest.approx(cer, abs=TOL)
    assert got.wer == pytest.approx(wer, abs=TOL)
    assert transcription_metrics(["abc"], ["abc"]).summary() == {
        "cer": 0.0,
        "wer": 0.0,
        "line_accuracy": 1.0,
    }


@pytest.mark.parametrize(
    ("refs", "hyps", "message"),
    [([], [], "at least one"), (["a"], ["a", "b"], "pair up"), (["a"], [3], "strings")],
)
def test_transcription_input_errors_say_what(refs, hyps, message) -> None:
    with pytest.raises(DataError, match=message):
        transcription_metrics(refs, hyps)


def test_curve_input_errors_say_what() -> None:
    with pytest.raises(DataError, match="same n"):
        pr_curve(np.array([0, 1]), np.array([0.2, 0.4, 0.9]))
    with pytest.raises(DataError, match="positive class"):
        roc_curve(np.array([0, 1]), np.ones((2, 2)), positive=5)
    with pytest.raises(DataError, match="NaN"):
        roc_curve(np.array([0, 1]), np.array([np.nan, 0.3]))
