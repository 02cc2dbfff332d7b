"""Answers -> consensus or a reviewer's decision -> staged -> a committed version."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from dlstack.data._catalog import queue, staged
from dlstack.data._splits import stream_split
from dlstack.data.labeling import (
    InvalidLabel,
    consensus,
    create_user,
    decide,
    disputed,
    enqueue,
    record_label,
    set_labels_needed,
    undo_last,
)
from dlstack.data.labeling._common import annotations_t
from dlstack.errors import DataError


def _staged(lp):
    with lp.catalog.connect() as conn:
        return {r.example_id: (r.label, r.split) for r in conn.execute(staged.select())}


def _done(lp, eid):
    with lp.catalog.connect() as conn:
        return (
            conn.execute(select(queue.c.done_at).where(queue.c.example_id == eid)).scalar()
            is not None
        )


def test_consensus_rule():
    # A majority of labels_needed must agree, and the winner must lead outright.
    assert consensus(["7"], 1) == "7"
    assert consensus(["7", "1"], 2) is None
    assert consensus(["7", "7"], 2) == "7"
    assert consensus(["7", "1", "7"], 2) == "7"  # a third labeler broke the tie
    assert consensus(["7", "7", "1", "1"], 3) is None  # a tie is no majority
    assert consensus([], 1) is None


def test_one_label_is_staged_with_who_and_when_and_committed(lp):
    create_user(lp.catalog, "ada")
    eid = lp.ids[0]
    a = record_label(lp.catalog, eid, "ada", lp.truth[eid], seconds=1.5)
    # Who and when are on the answer.
    assert (a.user, a.label, a.seconds) == ("ada", lp.truth[eid], 1.5) and a.created_at
    # labels_needed=1: the label is staged at once, with the seeded split, and the item done.
    assert _staged(lp)[eid] == (lp.truth[eid], stream_split(eid, lp.rules.split, 0))
    assert _done(lp, eid)
    version = lp.repo.commit("labels from the queue")
    # The next commit versions it.
    assert lp.repo.rows(version.id)[eid][0] == lp.truth[eid]


def test_two_labelers_must_agree(lp):
    for name in ("ada", "bob", "cy"):
        create_user(lp.catalog, name)
    eid = lp.ids[0]
    enqueue(lp.catalog, [eid], source="manual", labels_needed=2)
    record_label(lp.catalog, eid, "ada", "3")
    # One of two labels: nothing staged yet.
    assert eid not in _staged(lp) and not _done(lp, eid)
    record_label(lp.catalog, eid, "bob", "8")
    # They disagree: still waiting, and reviewers see it as disputed.
    assert eid not in _staged(lp)
    assert [(d.example_id, d.votes) for d in disputed(lp.catalog)] == [(eid, {"3": 1, "8": 1})]
    record_label(lp.catalog, eid, "cy", "8")
    # A third labeler makes a majority of two.
    assert _staged(lp)[eid][0] == "8" and _done(lp, eid)


def test_undo_keeps_history_and_takes_a_broken_consensus_back(lp):
    create_user(lp.catalog, "ada")
    eid = lp.ids[0]
    record_label(lp.catalog, eid, "ada", "3")
    assert _staged(lp)[eid][0] == "3"
    undone = undo_last(lp.catalog, "ada")
    assert undone.example_id == eid and undone.label == "3"
    # The label leaves the working set and the example waits again ...
    assert eid not in _staged(lp) and not _done(lp, eid)
    # ... and the answer is kept, marked retracted (history is never deleted).
    with lp.catalog.connect() as conn:
        rows = conn.execute(annotations_t.select().where(annotations_t.c.example_id == eid)).all()
    assert len(rows) == 1 and rows[0].retracted_at is not None
    # Nothing left to undo.
    assert undo_last(lp.catalog, "ada") is None


def test_undo_restores_the_label_an_example_had_before(lp):
    create_user(lp.catalog, "ada")
    eid = lp.ids[0]
    with lp.catalog.begin() as conn:  # labeled at ingest, then flagged by serving feedback
        conn.execute(staged.insert().values(example_id=eid, label="1", split="test"))
    enqueue(lp.catalog, [eid], source="feedback")
    record_label(lp.catalog, eid, "ada", "7")
    # The human label replaces the old one; the split never moves (no leakage).
    assert _staged(lp)[eid] == ("7", "test")
    undo_last(lp.catalog, "ada")
    # Undo brings back exactly what was there: nothing is lost.
    assert _staged(lp)[eid] == ("1", "test")


def test_relabeling_replaces_the_users_own_answer(lp):
    for name in ("ada", "bob"):
        create_user(lp.catalog, name)
    eid = lp.ids[0]
    enqueue(lp.catalog, [eid], source="manual", labels_needed=2)
    record_label(lp.catalog, eid, "ada", "3")
    record_label(lp.catalog, eid, "ada", "3")
    # One person can't make a majority alone by answering twice.
    assert eid not in _staged(lp)


def test_reviewer_decides_and_labelers_cannot(lp):
    for name, role in (("ada", "labeler"), ("bob", "labeler"), ("rev", "reviewer")):
        create_user(lp.catalog, name, role)
    eid = lp.ids[0]
    enqueue(lp.catalog, [eid], source="manual", labels_needed=2)
    record_label(lp.catalog, eid, "ada", "3")
    record_label(lp.catalog, eid, "bob", "8")
    with pytest.raises(DataError, match="only reviewers and admins"):
        decide(lp.catalog, eid, "3", user="ada")
    decide(lp.catalog, eid, "3", user="rev")
    # The decision is staged and closes the item, whatever the votes were.
    assert _staged(lp)[eid][0] == "3" and _done(lp, eid) and not disputed(lp.catalog)
    # A later undo by a labeler doesn't override the reviewer.
    undo_last(lp.catalog, "bob")
    assert _staged(lp)[eid][0] == "3"


def test_unknown_labels_name_the_classes(lp):
    create_user(lp.catalog, "ada")
    with pytest.raises(InvalidLabel, match="not one of the classes: 0, 1, 2") as e:
        record_label(lp.catalog, lp.ids[0], "ada", "eleven")
    assert e.value.allowed == tuple(str(d) for d in range(10))
    # Nothing was written for the refused answer.
    with lp.catalog.connect() as conn:
        assert conn.execute(select(annotations_t.c.id)).first() is None


def test_lowering_labels_needed_decides_waiting_items(lp):
    for name in ("ada", "bob"):
        create_user(lp.catalog, name)
    enqueue(lp.catalog, lp.ids[:2], source="manual", labels_needed=4)
    record_label(lp.catalog, lp.ids[0], "ada", "4")
    record_label(lp.catalog, lp.ids[0], "bob", "4")
    assert lp.ids[0] not in _staged(lp)  # a majority of 4 is 3: not yet
    # Every waiting item now needs two (the fixture queued all 24 with one).
    assert set_labels_needed(lp.catalog, 2) == len(lp.ids)
    # With 2 needed, two agreeing labels decide at once.
    assert _staged(lp)[lp.ids[0]][0] == "4"


def test_streamed_splits_follow_the_fractions():
    ids = [f"{i:064x}" for i in range(4000)]
    counts = Counter(stream_split(i, (0.8, 0.1, 0.1), 0) for i in ids)
    # One at a time, examples still land in the configured fractions (within sampling noise).
    assert abs(counts["train"] / 4000 - 0.8) < 0.03 and abs(counts["test"] / 4000 - 0.1) < 0.02
    # And an example's split depends only on (seed, id).
    assert stream_split(ids[0], (0.8, 0.1, 0.1), 0) == stream_split(ids[0], (0.8, 0.1, 0.1), 0)


def test_a_late_disagreeing_answer_disputes_a_decided_example(lp):
    for name in ("ada", "bob", "cy"):
        create_user(lp.catalog, name)
    eid = lp.ids[0]
    record_label(lp.catalog, eid, "ada", "3")
    # Bob had it on screen when Ada's label decided it; his answer still counts.
    record_label(lp.catalog, eid, "bob", "5")
    # Conflicting evidence: out of the working set, back in the queue, shown to reviewers.
    assert eid not in _staged(lp) and not _done(lp, eid)
    assert [d.example_id for d in disputed(lp.catalog)] == [eid]
    record_label(lp.catalog, eid, "cy", "3")
    assert _staged(lp)[eid][0] == "3" and _done(lp, eid)
