"""A Snapshot's splits as in-memory tensors, standardized with train-only statistics.

Batches are gathered with one tensor index per batch (``__getitems__``) instead of one
``__getitem__`` per example plus a stack: measured ~50 us against ~270 us per batch of
64 28x28 digits. Small for LeNet (a step is ~35 ms on 2 CPU cores), but it is most of
the step for an MLP on 8x8 digits. It stays a plain map-style Dataset in a plain
DataLoader, so Lightning can still swap in a DistributedSampler or a sequential one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from dlstack.data import Snapshot
from dlstack.errors import DataError
from dlstack.inputs import (
    IMAGE_INPUT,
    VARIABLE_WIDTH,
    example_shape,
    input_rows,
    line_width,
    map_input,
    take_rows,
)
from dlstack.train._augment import BatchAugment
from dlstack.train._result import Normalization
from dlstack.train._tasks import Task

__all__ = ["EVAL_BATCH_SIZE", "EpochShuffle", "SnapshotDataModule", "TensorBatches"]

# Evaluation keeps no activations for backward, so bigger batches are free and faster.
EVAL_BATCH_SIZE = 512


class TensorBatches(Dataset[tuple[Any, Tensor]]):
    """(inputs, targets) tensors that hand out a whole batch per index list; the inputs
    are one tensor, or a dict of tensors by input name (several inputs per example).

    With ``widths`` (lines of variable width, padded on the right to the widest of the
    split), a batch is cut to its own widest line: the rest is background in every row,
    and a batch of short lines then costs what short lines cost (about 1.5x faster on the
    builtin lines), the way serving pads a batch to its own widest line too.
    """

    def __init__(
        self, inputs: Tensor | dict[str, Tensor], targets: Tensor, widths: Tensor | None = None
    ) -> None:
        self.inputs = inputs  # (N, *input_shape) float32, or {name: (N, *shape)}
        self.targets = targets  # (N, ...) whatever the task's loss expects
        self.widths = widths  # int64 (N,) each line's true width, or None

    def __len__(self) -> int:
        return input_rows(self.inputs)

    def __getitem__(self, index: int) -> tuple[Any, Tensor]:
        return take_rows(self.inputs, index), self.targets[index]

    def __getitems__(self, indices: list[int]) -> tuple[Any, Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        inputs = map_input(lambda t: t.index_select(0, idx), self.inputs)
        if self.widths is not None and isinstance(inputs, Tensor):
            inputs = inputs[..., : _batch_width(self.widths.index_select(0, idx), inputs)]
        return inputs, self.targets.index_select(0, idx)


def _batch_width(widths: Tensor, inputs: Tensor) -> int:
    """The batch's widest line, rounded up as serving runs a line (``line_width``)."""
    widest = int(widths.max()) if len(widths) else inputs.shape[-1]
    return min(inputs.shape[-1], line_width(widest))


class EpochShuffle(Sampler[int]):
    """A new permutation every epoch, drawn from (seed, epoch) alone.

    Lightning calls ``set_epoch`` before each epoch, so a run resumed at epoch k sees the
    same order an uninterrupted run would have, and with no dropout it ends with the same
    weights.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        return iter(torch.randperm(self.size, generator=generator).tolist())


def collate_batch(batch: Any) -> Any:
    """``__getitems__`` already returns the stacked batch; keep it as it is."""
    return batch


class SnapshotDataModule(L.LightningDataModule):
    """Train/val tensors from a Snapshot; ``normalization`` comes from train images only."""

    def __init__(
        self,
        snapshot: Snapshot,
        task: Task,
        *,
        batch_size: int,
        num_workers: int = 0,
        seed: int = 0,
        augment: BatchAugment | None = None,
    ) -> None:
        super().__init__()
        self.augment = augment  # applied to training batches only, on the main process
        self.snapshot = snapshot
        self.task = task
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.normalization: Normalization | None = None
        self.datasets: dict[str, TensorBatches] = {}

    @property
    def input_shape(self) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
        """One example as the model takes it: (C, H, W), (D,) for a table, one shape per
        input name for several inputs, or (C, H, -1) for lines of variable width."""
        shape = example_shape(self._dataset("train").inputs)
        if self.snapshot.widths is not None and isinstance(shape, tuple) and len(shape) == 3:
            return (*shape[:2], VARIABLE_WIDTH)
        return shape

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        train = self.snapshot.split("train")
        if len(train) == 0:
            raise DataError(
                f"data version {self.snapshot.version} has no training examples; ingest "
                f"some or change data.split so that train gets a share"
            )
        # Statistics from the train split only: val/test must not leak into the model.
        self.normalization = Normalization.fit(train, self.snapshot.table)
        self.task.fit(train.y)  # a regression's target mean/std: train only, too
        for name in ("train", "val", "test"):
            arrays = train if name == "train" else self.snapshot.split(name)
            if len(arrays) == 0:
                continue
            x = map_input(torch.from_numpy, self.normalization.model_input(arrays))
            widths = None if arrays.widths is None else torch.from_numpy(arrays.widths).long()
            self.datasets[name] = TensorBatches(x, self.task.targets(arrays.y), widths)

    def train_dataloader(self) -> DataLoader[Any]:
        dataset = self._dataset("train")
        return self._loader("train", self.batch_size, sampler=EpochShuffle(len(dataset), self.seed))

    def val_dataloader(self) -> DataLoader[Any] | list[Any]:
        if "val" not in self.datasets:
            return []  # a project without a val split trains without validation
        return self._loader("val", max(self.batch_size, EVAL_BATCH_SIZE))

    def test_dataloader(self) -> DataLoader[Any] | list[Any]:
        if "test" not in self.datasets:
            return []
        return self._loader("test", max(self.batch_size, EVAL_BATCH_SIZE))

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        trainer = getattr(self, "trainer", None)
        if self.augment is None or trainer is None or not trainer.training:
            return batch
        if self.augment.epoch != trainer.current_epoch:
            self.augment.start_epoch(trainer.current_epoch)
        inputs, targets = batch
        if isinstance(inputs, dict):  # several inputs: the shifts and strokes are the image's
            return {**inputs, IMAGE_INPUT: self.augment(inputs[IMAGE_INPUT])}, targets
        return self.augment(inputs), targets

    def _dataset(self, name: str) -> TensorBatches:
        self.setup()
        return self.datasets[name]

    def _loader(
        self, name: str, batch_size: int, *, sampler: Sampler[int] | None = None
    ) -> DataLoader[Any]:
        return DataLoader(
            self._dataset(name),
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate_batch,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
