"""The queue: uncertainty first when a model scored it, seeded random otherwise."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dlstack.data.labeling import (
    FEEDBACK_PRIORITY,
    create_user,
    enqueue,
    next_items,
    record_label,
    set_priorities,
    uncertainty,
)
from dlstack.errors import DataError


def _ids(items):
    return [i.example_id for i in items]


def test_without_a_model_the_order_is_random_but_seeded(lp):
    create_user(lp.catalog, "ada")
    first = _ids(next_items(lp.catalog, "ada", limit=100, seed=0))
    again = _ids(next_items(lp.catalog, "ada", limit=100, seed=0))
    other = _ids(next_items(lp.catalog, "ada", limit=100, seed=1))
    # Same seed, same order: a labeling session can be reproduced.
    assert first == again
    # Every queued example is offered, and a different seed gives a different sample.
    assert sorted(first) == sorted(lp.ids) and other != first
    # Random, not the order of arrival (24! orders; arrival order by chance is negligible).
    assert first != lp.ids
    # The order is the documented hash of (seed, id), so it never depends on the database.
    expected = sorted(lp.ids, key=lambda i: hashlib.sha256(f"queue:0:{i}".encode()).hexdigest())
    assert first == expected


def test_uncertainty_goes_first_and_feedback_above_it(lp):
    create_user(lp.catalog, "ada")
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10) * 0.3, size=len(lp.ids))  # (N, 10)
    scores = uncertainty(probs)
    assert set_priorities(lp.catalog, dict(zip(lp.ids, scores, strict=True))) == len(lp.ids)
    order = _ids(next_items(lp.catalog, "ada", limit=100))
    # Active learning: the example the model is least sure of comes first, and so on down.
    assert order == [lp.ids[i] for i in np.argsort(-scores, kind="stable")]

    # A user says a prediction was wrong: that example jumps ahead of every uncertainty.
    flagged = order[-1]
    enqueue(lp.catalog, [flagged], source="feedback")
    assert _ids(next_items(lp.catalog, "ada", limit=1)) == [flagged]
    # Re-scoring keeps the feedback boost on top of the new score.
    set_priorities(lp.catalog, {flagged: 0.0})
    top = next_items(lp.catalog, "ada", limit=1)[0]
    assert top.example_id == flagged and top.priority == FEEDBACK_PRIORITY


def test_uncertainty_measures_are_normalized_and_ordered():
    sure, torn, clueless = [0.98, 0.01, 0.01], [0.5, 0.49, 0.01], [1 / 3, 1 / 3, 1 / 3]
    p = np.array([sure, torn, clueless])
    for method in ("entropy", "least_confident", "margin"):
        u = uncertainty(p, method)
        # Every measure ranks sure < torn <= clueless and stays in [0, 1].
        assert u[0] < u[1] <= u[2] + 1e-12 and u.min() >= 0 and u.max() <= 1, method
        # Uniform probabilities are maximal uncertainty for every measure.
        assert u[2] == pytest.approx(1.0), method
    # Entropy against the textbook formula, H / log K.
    h = -(np.array(sure) * np.log(sure)).sum() / np.log(3)
    assert uncertainty(p)[0] == pytest.approx(h)


def test_uncertainty_refuses_logits():
    # Logits are the most likely mistake; the message says what to pass instead.
    with pytest.raises(DataError, match="softmax"):
        uncertainty(np.array([[2.0, -1.0, 0.5]]))
    with pytest.raises(DataError, match=r"shape \(N, K\)"):
        uncertainty(np.array([0.2, 0.8]))


def test_next_items_skips_what_the_user_answered_and_what_the_page_holds(lp):
    for name in ("ada", "bob"):
        create_user(lp.catalog, name)
    enqueue(lp.catalog, lp.ids, source="ingest", labels_needed=2)
    first, second, third = _ids(next_items(lp.catalog, "ada", limit=3))
    record_label(lp.catalog, first, "ada", lp.truth[first])
    record_label(lp.catalog, second, "ada", None)  # skipped counts as answered
    mine = _ids(next_items(lp.catalog, "ada", limit=100))
    # Ada is not shown what she labeled or skipped ...
    assert first not in mine and second not in mine and third in mine
    # ... but Bob is: the item needs two labelers.
    assert first in _ids(next_items(lp.catalog, "bob", limit=100))
    # A page that already holds `third` asks for the ones after it.
    assert third not in _ids(next_items(lp.catalog, "ada", limit=100, exclude=[third]))


def test_enqueue_keeps_items_and_raises_requests(lp):
    # Queueing again adds nothing: an example waits once.
    assert enqueue(lp.catalog, lp.ids[:3], source="ingest") == 0
    # Asking for more labelers raises labels_needed; a lower request doesn't lower it.
    enqueue(lp.catalog, lp.ids[:1], source="manual", labels_needed=3)
    enqueue(lp.catalog, lp.ids[:1], source="manual", labels_needed=1)
    create_user(lp.catalog, "ada")
    item = next(i for i in next_items(lp.catalog, "ada", limit=100) if i.example_id == lp.ids[0])
    assert item.labels_needed == 3


def test_enqueue_refuses_unknown_examples_and_sources(lp):
    with pytest.raises(DataError, match="not in this project's catalog"):
        enqueue(lp.catalog, ["0" * 64], source="ingest")
    with pytest.raises(DataError, match="ingest, feedback"):
        enqueue(lp.catalog, lp.ids[:1], source="somewhere")
    with pytest.raises(DataError, match="labels_needed"):
        enqueue(lp.catalog, lp.ids[:1], source="ingest", labels_needed=0)


def test_a_finished_item_reopens_only_when_asked_and_starts_a_new_round(lp):
    create_user(lp.catalog, "ada")
    eid = lp.ids[0]
    record_label(lp.catalog, eid, "ada", "3")
    assert eid not in _ids(next_items(lp.catalog, "ada", limit=100))
    # Feedback on a decided example doesn't reopen it by default ...
    assert enqueue(lp.catalog, [eid], source="feedback") == 0
    # ... but can; then Ada's earlier answer no longer counts, and she sees it again.
    assert enqueue(lp.catalog, [eid], source="feedback", reopen=True) == 1
    assert _ids(next_items(lp.catalog, "ada", limit=1)) == [eid]
