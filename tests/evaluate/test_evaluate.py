"""evaluate() runs the model over a split and scores it with the shared metric function."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from dlstack.data import Snapshot
from dlstack.errors import ModelError
from dlstack.evaluate import baselines, evaluate
from dlstack.train._result import Normalization


def test_evaluation_agrees_with_the_model_and_sklearn(
    digits8: Snapshot, digits8_norm: Normalization, trained_mlp: torch.nn.Module, logits_of
) -> None:
    ev = evaluate(trained_mlp, digits8, digits8_norm)
    test = digits8.split("test")
    # Predictions are the argmax of the model's own logits on the standardized split.
    expected = logits_of(trained_mlp, test.images, digits8_norm).argmax(1)
    np.testing.assert_array_equal(ev.predictions, expected)
    np.testing.assert_array_equal(ev.targets, test.labels)
    np.testing.assert_array_equal(ev.ids, test.ids)
    assert ev.metrics["accuracy"] == pytest.approx(
        skm.accuracy_score(test.labels, expected), abs=1e-6
    )
    np.testing.assert_allclose(ev.probabilities.sum(1), 1.0, atol=1e-5)  # softmax rows
    assert ev.confusion.shape == (10, 10) and ev.confusion.sum() == ev.n == len(test)
    # The model and the baselines are scored on exactly the same examples.
    assert {b.scores.n for b in baselines(digits8)} == {ev.n}
    assert ev.metrics["accuracy"] > 0.9


def test_batch_size_does_not_change_results(
    digits8: Snapshot, digits8_norm: Normalization, trained_mlp: torch.nn.Module
) -> None:
    a = evaluate(trained_mlp, digits8, digits8_norm, batch_size=7)
    b = evaluate(trained_mlp, digits8, digits8_norm)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)


def test_model_mode_is_restored(digits8: Snapshot, digits8_norm: Normalization) -> None:
    # evaluate() must not leave dropout/batchnorm of a model still being trained in eval mode.
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(64, 10))
    model.train()
    evaluate(model, digits8, digits8_norm)
    assert model.training


def test_mistakes_are_the_wrong_ones_most_confident_first(
    digits8: Snapshot, digits8_norm: Normalization, trained_mlp: torch.nn.Module
) -> None:
    ev = evaluate(trained_mlp, digits8, digits8_norm)
    wrong = ev.mistakes()
    assert len(wrong) == int((ev.predictions != ev.targets).sum())
    assert (ev.predictions[wrong] != ev.targets[wrong]).all()
    assert (np.diff(ev.confidences[wrong]) <= 0).all()
    assert len(ev.mistakes(limit=2)) == min(2, len(wrong))


def test_a_model_with_the_wrong_number_of_outputs_is_explained(
    digits8: Snapshot, digits8_norm: Normalization
) -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with pytest.raises(ModelError, match=r"expected logits \(batch, 10\)"):
        evaluate(model, digits8, digits8_norm)
