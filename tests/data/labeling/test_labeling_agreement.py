"""Agreement (kappa against references) and the human baseline from gold examples."""

from __future__ import annotations

import numpy as np
import pytest

from dlstack.data._catalog import staged
from dlstack.data.labeling import (
    add_gold,
    agreement,
    cohen_kappa,
    create_user,
    enqueue,
    fleiss_kappa,
    human_baseline,
    list_gold,
    next_items,
    record_label,
    sample_gold,
    undo_last,
)
from dlstack.errors import DataError

# Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters,
# 5 categories; P = 0.378, P_e = 0.213, kappa = 0.210.
FLEISS_EXAMPLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_fleiss_kappa_matches_the_worked_example():
    assert fleiss_kappa(FLEISS_EXAMPLE) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_by_hand():
    # 4 items, 2 raters: P_i = 1, 0, 1, 1 -> P = 3/4; p = (3/8, 5/8) -> P_e = 34/64;
    # kappa = (3/4 - 34/64) / (1 - 34/64) = 7/15.
    assert fleiss_kappa(np.array([[2, 0], [1, 1], [0, 2], [0, 2]])) == pytest.approx(7 / 15)
    # Varying labels per item: P_i = 1, 0, 1 -> P = 2/3; p = (4/7, 3/7) -> P_e = 25/49;
    # kappa = (2/3 - 25/49) / (24/49) = 23/72.
    assert fleiss_kappa(np.array([[3, 0], [1, 1], [0, 2]])) == pytest.approx(23 / 72)
    # Items with one label carry no agreement and are left out, not counted as agreeing.
    assert fleiss_kappa(np.array([[2, 0], [1, 1], [0, 2], [0, 2], [1, 0]])) == pytest.approx(7 / 15)
    # Everyone always says the same class: chance agreement is perfect, kappa is undefined.
    assert fleiss_kappa(np.array([[2, 0], [2, 0]])) is None


def test_cohen_kappa_by_hand_and_undefined():
    # p_o = 3/4; marginals (1/2, 1/2) and (1/4, 3/4) -> p_e = 1/2; kappa = 1/2.
    assert cohen_kappa(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(0.5)
    # Perfect agreement is 1; a single shared label leaves kappa undefined (None, not nan).
    assert cohen_kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None


def test_two_raters_fleiss_is_close_to_cohen():
    # With two raters and similar marginals, Fleiss' kappa (Scott's pi) ~ Cohen's kappa.
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 500)
    b = np.where(rng.random(500) < 0.7, a, rng.integers(0, 3, 500))
    table = np.zeros((500, 3), dtype=int)
    table[np.arange(500), a] += 1
    table[np.arange(500), b] += 1
    assert fleiss_kappa(table) == pytest.approx(cohen_kappa(a.astype(str), b.astype(str)), abs=0.01)


def test_agreement_from_the_catalog(lp):
    users = ("ada", "bob", "cy")
    for name in users:
        create_user(lp.catalog, name)
    ids = lp.ids[:4]
    enqueue(lp.catalog, ids, source="manual", labels_needed=3)
    answers = {  # example -> labels by ada, bob, cy
        ids[0]: ("1", "1", "1"),
        ids[1]: ("2", "2", "7"),
        ids[2]: ("3", "5", "5"),
        ids[3]: ("4", "4", "4"),
    }
    for eid, labels in answers.items():
        for user, label in zip(users, labels, strict=True):
            record_label(lp.catalog, eid, user, label)
    record_label(lp.catalog, lp.ids[5], "ada", None)  # skips are not labels
    a = agreement(lp.catalog)
    share = {e.example_id: e.share for e in a.examples}
    # Per example: the share of labelers behind the majority label.
    assert share == pytest.approx({ids[0]: 1, ids[1]: 2 / 3, ids[2]: 2 / 3, ids[3]: 1})
    # Pairs: Cohen's kappa over the examples both labeled, computed the reference way.
    pair = {(p.a, p.b): p for p in a.pairs}
    ab = pair[("ada", "bob")]
    assert ab.n == 4 and ab.kappa == pytest.approx(
        cohen_kappa(["1", "2", "3", "4"], ["1", "2", "5", "4"])
    )
    # Overall: Fleiss' kappa of the (example x label) count table.
    table = np.array(
        [[3, 0, 0, 0, 0, 0], [0, 2, 0, 0, 0, 1], [0, 0, 1, 0, 2, 0], [0, 0, 0, 3, 0, 0]]
    )  # columns: 1 2 3 4 5 7
    assert a.fleiss == pytest.approx(fleiss_kappa(table))


def test_human_baseline_from_gold(lp):
    for name in ("ada", "bob", "cy"):
        create_user(lp.catalog, name)
    assert human_baseline(lp.catalog) is None  # no gold answers yet: no baseline, no zero
    gold_ids = lp.ids[:4]
    add_gold(lp.catalog, {e: lp.truth[e] for e in gold_ids}, created_by="root")
    wrong = str((int(lp.truth[gold_ids[0]]) + 1) % 10)
    for eid in gold_ids:
        record_label(lp.catalog, eid, "ada", lp.truth[eid])
        record_label(lp.catalog, eid, "bob", wrong if eid == gold_ids[0] else lp.truth[eid])
    record_label(lp.catalog, gold_ids[0], "cy", wrong)
    undo_last(lp.catalog, "cy")  # taken back: not an error
    record_label(lp.catalog, gold_ids[1], "cy", None)  # skipped: not an error either
    record_label(lp.catalog, gold_ids[2], "cy", lp.truth[gold_ids[2]])

    hb = human_baseline(lp.catalog)
    # Pooled: 1 wrong answer out of 4 + 4 + 1.
    assert (hb.n_answers, hb.n_gold) == (9, 4)
    assert hb.error_rate == pytest.approx(1 / 9) and hb.accuracy == pytest.approx(8 / 9)
    # Per labeler, and the best labeler (the expert-level proxy).
    assert {u: (s.answers, s.errors) for u, s in hb.per_labeler.items()} == {
        "ada": (4, 0),
        "bob": (4, 1),
        "cy": (1, 0),
    }
    assert hb.best_error_rate == 0.0
    # Gold examples stay in the queue for labelers who haven't met them.
    create_user(lp.catalog, "dee")
    offered = {i.example_id for i in next_items(lp.catalog, "dee", limit=100)}
    assert set(gold_ids) <= offered
    assert hb.to_dict()["per_labeler"]["bob"]["error_rate"] == pytest.approx(0.25)


def test_sample_gold_takes_trusted_labels_only(lp):
    create_user(lp.catalog, "ada")
    for eid in lp.ids[:6]:
        record_label(lp.catalog, eid, "ada", lp.truth[eid])
    with lp.catalog.begin() as conn:  # labeled at ingest, as a labeled source would be
        conn.execute(
            staged.insert(),
            [{"example_id": e, "label": lp.truth[e], "split": "test"} for e in lp.ids[6:12]],
        )
    picked = sample_gold(lp.catalog, 3, created_by="root", seed=0)
    # Gold comes from trusted labels, never from answers of the labelers it will measure.
    assert len(picked) == 3 and set(picked) <= set(lp.ids[6:12])
    assert list_gold(lp.catalog) == {e: lp.truth[e] for e in sorted(picked)}
    # Asking again picks other examples: those are gold already.
    again = sample_gold(lp.catalog, 3, created_by="root", seed=0)
    assert not set(again) & set(picked) and len(list_gold(lp.catalog)) == 6
    with pytest.raises(DataError, match="no example left to make gold"):
        sample_gold(lp.catalog, 1, created_by="root")
