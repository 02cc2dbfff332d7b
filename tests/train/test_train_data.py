"""The data module: train-only normalization, cheap batches equal to the slow path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlstack.data import Snapshot
from dlstack.errors import DataError
from dlstack.inputs import channel_stats
from dlstack.train import SnapshotDataModule
from dlstack.train._datamodule import EpochShuffle
from dlstack.train._tasks import ClassificationTask

TRAIN, VAL, TEST = 0, 1, 2


def with_images(snapshot: Snapshot, images: np.ndarray) -> Snapshot:
    return Snapshot(
        snapshot.version, snapshot.classes, images, snapshot.labels, snapshot.splits, snapshot.ids
    )


def normalization_of(snapshot: Snapshot) -> tuple[tuple[float, ...], tuple[float, ...]]:
    data = SnapshotDataModule(snapshot, ClassificationTask(), batch_size=64)
    data.setup()
    assert data.normalization is not None
    return data.normalization.mean, data.normalization.std


def test_normalization_uses_train_pixels_only(digits8: Snapshot) -> None:
    base = normalization_of(digits8)
    assert base == channel_stats(digits8.split("train").images)

    # Changing every val and test pixel must not move the statistics: no leakage.
    images = np.array(digits8.images)
    images[digits8.splits != TRAIN] = 255
    assert normalization_of(with_images(digits8, images)) == base

    # Changing train pixels must.
    images = np.array(digits8.images)
    images[digits8.splits == TRAIN] //= 2
    changed = normalization_of(with_images(digits8, images))
    assert changed[0][0] < base[0][0]


def test_train_inputs_are_standardized(digits8: Snapshot) -> None:
    data = SnapshotDataModule(digits8, ClassificationTask(), batch_size=64)
    data.setup()
    x = data.datasets["train"].inputs
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 8, 8)
    assert data.input_shape == (1, 8, 8)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3


def test_batches_equal_per_example_indexing(digits8: Snapshot) -> None:
    # Reference: the slow path (one __getitem__ per example, then stack) in sampler order.
    data = SnapshotDataModule(digits8, ClassificationTask(), batch_size=64, seed=3)
    data.setup()
    loader = data.train_dataloader()
    order = list(iter(loader.sampler))
    dataset = data.datasets["train"]
    batches = list(loader)
    assert len(batches) == len(loader) == -(-len(dataset) // 64)
    for k, (x, y) in enumerate(batches[:3]):
        idx = order[k * 64 : (k + 1) * 64]
        assert torch.equal(x, torch.stack([dataset[i][0] for i in idx]))
        assert torch.equal(y, torch.stack([dataset[i][1] for i in idx]))


def test_epoch_shuffle_depends_on_seed_and_epoch_only() -> None:
    sampler = EpochShuffle(100, seed=7)
    first = list(sampler)
    assert sorted(first) == list(range(100))  # a permutation
    assert list(sampler) == first  # same epoch, same order: resumable
    sampler.set_epoch(1)
    assert list(sampler) != first  # a new order each epoch
    assert list(EpochShuffle(100, seed=8)) != first


def test_val_batches_are_larger_and_in_order(digits8: Snapshot) -> None:
    data = SnapshotDataModule(digits8, ClassificationTask(), batch_size=16)
    data.setup()
    (x, _), *_ = list(data.val_dataloader())
    assert torch.equal(x, data.datasets["val"].inputs[: len(x)])
    assert len(x) == len(data.datasets["val"])  # the whole val split in one eval batch


def test_no_train_examples_is_a_data_error(digits8: Snapshot) -> None:
    empty = Snapshot(
        digits8.version,
        digits8.classes,
        digits8.images,
        digits8.labels,
        np.full_like(digits8.splits, VAL),
        digits8.ids,
    )
    with pytest.raises(DataError, match="no training examples"):
        SnapshotDataModule(empty, ClassificationTask(), batch_size=8).setup()
