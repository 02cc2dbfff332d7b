"""Splits are stratified, deterministic and leak-free."""

from __future__ import annotations

import numpy as np

from dlstack.data import Snapshot, assign_splits, stratified_subset


def test_no_example_in_two_splits_on_builtin_data():
    # The data-leakage test: identical bytes can never be in train and test at once.
    snap = Snapshot.from_builtin("digits8")
    seen: dict[str, int] = {}
    for example_id, split in zip(snap.ids, snap.splits, strict=True):
        assert seen.setdefault(example_id, split) == split
    train, test = set(snap.split("train").ids), set(snap.split("test").ids)
    assert not train & test


def test_split_is_stratified_and_seeded():
    ids = [f"{i:064x}" for i in range(1000)]
    labels = [i % 4 for i in range(1000)]
    out = assign_splits(ids, labels, (0.8, 0.1, 0.1), seed=0)
    for c in range(4):
        got = [s for s, lab in zip(out, labels, strict=True) if lab == c]
        # Every class gets the same share in each split (250 per class: 200/25/25).
        assert (got.count("train"), got.count("val"), got.count("test")) == (200, 25, 25)
    assert out == assign_splits(ids, labels, (0.8, 0.1, 0.1), seed=0)
    assert out != assign_splits(ids, labels, (0.8, 0.1, 0.1), seed=1)


def test_subset_keeps_classes_balanced():
    labels = np.repeat(np.arange(10), 100)
    idx = stratified_subset(labels, 200, seed=0)
    assert len(idx) == 200
    assert np.bincount(labels[idx]).tolist() == [20] * 10
    assert len(stratified_subset(labels, 0.5)) == 500


def test_train_subset_leaves_val_and_test_whole():
    snap = Snapshot.from_builtin("digits8")
    small = snap.with_train_subset(100)
    assert small.counts()["train"] == 100
    assert small.counts()["val"] == snap.counts()["val"]
    assert small.counts()["test"] == snap.counts()["test"]
