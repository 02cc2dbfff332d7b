"""Read the user's Datasets or DataLoaders into tensors, exactly as they deliver them.

The doctor never fixes the data: a uint8 image stays uint8, a float64 array stays float64,
so the checks see what the model would see. Each split is read once (up to ``cap``
examples, a seeded random subset of a large Dataset) and kept in memory; the doctor's
trainings then shuffle those tensors, which also turns augmentation off (one fixed draw
per example), as the practice asks for the single-batch test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, SequentialSampler, Subset

from dlstack.doctor._tree import (
    Tree,
    batch_len,
    describe,
    is_tensor,
    leaves,
    named_leaves,
)
from dlstack.doctor._tree import (
    index as take_rows,
)
from dlstack.errors import DataError

__all__ = ["Split", "read_split", "reread"]

READ_BATCH = 256  # examples per read when the doctor batches a Dataset itself
PAD_VALUE = 0  # variable-length targets (CTC) are padded with the blank index
MAX_BYTES = 256 * 2**20  # inputs of one split kept in memory; larger splits are subsampled


@dataclass
class Split:
    """One split in memory: inputs and targets as the user's data delivered them."""

    name: str
    x: Tree  # (n, ...) any dtype, or a tuple/list/dict of such tensors (several inputs)
    y: Tree  # (n,) class indices, (n, S) padded sequences, (n, ...) floats, or a tree
    source: Any  # the Dataset (or a DataLoader's dataset) the rows can be reread from
    total: int | None  # examples in the source, when it has a length
    indices: Tensor | None = None  # the rows' indices in ``source``, when they are known

    def __len__(self) -> int:
        return batch_len(self.x)

    def take(self, rows: Tensor | slice) -> tuple[Tree, Tree]:
        return take_rows(self.x, rows), take_rows(self.y, rows)

    @property
    def structured(self) -> bool:
        """True when inputs or targets are a tuple/list/dict of tensors."""
        return not (is_tensor(self.x) and is_tensor(self.y))


def batch_size_of(data: Any) -> int | None:
    """The batch size of a DataLoader, or None for a Dataset."""
    if isinstance(data, DataLoader):
        return data.batch_size
    return None


def read_split(name: str, data: Any, *, cap: int, seed: int) -> Split:
    """Materialize up to ``cap`` examples of a Dataset or DataLoader of (input, target)."""
    if data is None:
        raise DataError(
            f"the {name} data is None; pass a torch Dataset or DataLoader of (input, target) pairs"
        )
    if isinstance(data, DataLoader):
        xs, ys = _read_loader(name, data, cap)
        split = Split(
            name,
            _cat(name, xs, "inputs"),
            _cat(name, ys, "targets"),
            data.dataset,
            _length(data.dataset),
        )
        if isinstance(data.sampler, SequentialSampler):  # row i is dataset[i]: rereadable
            split.indices = torch.arange(len(split))
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        n = len(data)
        if n == 0:
            raise DataError(f"the {name} dataset is empty; pass at least one example")
        cap = min(cap, _fits(data[0]))
        index = torch.arange(n)
        if n > cap:  # a seeded random subset keeps every class in a sorted dataset
            g = torch.Generator().manual_seed(seed)
            index = torch.randperm(n, generator=g)[:cap].sort().values  # sequential reads
        subset: Dataset[Any] = Subset(data, index.tolist())
        loader = DataLoader(subset, batch_size=READ_BATCH, shuffle=False, collate_fn=collate)
        xs, ys = _read_loader(name, loader, cap)
        split = Split(name, _cat(name, xs, "inputs"), _cat(name, ys, "targets"), data, n, index)
    else:
        raise DataError(
            f"the {name} data is a {type(data).__name__}; pass a torch Dataset or DataLoader "
            f"that yields (input, target) pairs"
        )
    if len(split) == 0:
        raise DataError(f"the {name} data yielded no examples; pass a non-empty dataset")
    # Rows in a seeded random order: "the first k rows" is then a fair sample even when
    # the source is sorted by class.
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    split.x, split.y = take_rows(split.x, order), take_rows(split.y, order)
    if split.indices is not None:
        split.indices = split.indices[order]
    return split


def reread(split: Split, rows: Tensor) -> tuple[Tree, Tree] | None:
    """Read the given rows again from their Dataset, or None for a DataLoader.

    Labels that differ between two reads of the same, unchanged input are corrupted data
    (the practice's "incorrectly shuffled labels"); the single-batch test then rereads its
    batch every step, as a training loop would.
    """
    if split.indices is None:
        return None
    try:
        return collate([split.source[i] for i in split.indices[rows].tolist()])
    except Exception:  # items a custom collate_fn expects to assemble: no second read
        return None


def collate(items: Sequence[Any]) -> tuple[Tree, Tree]:
    """Stack (input, target) pairs; pad variable-length targets with the blank index.

    Inputs and targets may be tensors or tuples/lists/dicts of them (several inputs,
    ``(targets, lengths)``); each leaf is stacked on its own."""
    xs, ys = [], []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DataError(
                f"a dataset item is a {type(item).__name__}, expected an (input, target) "
                f"pair; make __getitem__ return (x, y)"
            )
        xs.append(_tree(item[0], "input"))
        ys.append(_tree(item[1], "target"))
    return _stack_trees(xs, "inputs"), _stack_trees(ys, "targets")


def _fits(item: Any) -> int:
    """How many examples like ``item`` fit in MAX_BYTES."""
    if isinstance(item, (tuple, list)) and item:
        try:
            x = _tree(item[0], "input")
        except DataError:
            return 1 << 62
        size = sum(t.numel() * t.element_size() for t in leaves(x))
        return max(2, MAX_BYTES // max(int(size), 1))
    return 1 << 62


def _read_loader(name: str, loader: Iterable[Any], cap: int) -> tuple[list[Tree], list[Tree]]:
    xs: list[Tree] = []
    ys: list[Tree] = []
    seen = 0
    for batch in loader:
        if isinstance(batch, dict) or not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise DataError(
                f"the {name} loader yields {type(batch).__name__}, expected (input, target) "
                f"batches; return a tuple from the dataset or the collate_fn"
            )
        x, y = _tree(batch[0], "input"), _tree(batch[1], "target")
        if isinstance(y, Tensor) and y.ndim == 0:
            y = y.reshape(1)
        n = batch_len(x)
        y = _per_example(y, n)
        _check_lengths(name, x, y, n)
        xs.append(x)
        ys.append(y)
        if not seen and n:  # big examples (large images): keep the split in memory bounds
            size = sum(t[0].numel() * t.element_size() for t in leaves(x) if t.ndim)
            cap = min(cap, max(2, MAX_BYTES // max(size, 1)))
        seen += n
        if seen >= cap:
            break
    if seen > cap:
        keep = batch_len(xs[-1]) - (seen - cap)
        xs[-1], ys[-1] = take_rows(xs[-1], slice(0, keep)), take_rows(ys[-1], slice(0, keep))
    return xs, ys


def _per_example(y: Tree, n: int) -> Tree:
    """CTC's concatenated ``(targets, lengths)`` (all targets in one 1-D tensor) as padded
    ``(N, S)`` targets and the lengths, so that rows can be taken one by one."""
    if not (isinstance(y, (tuple, list)) and len(y) == 2 and all(is_tensor(v) for v in y)):
        return y
    flat, lengths = y
    if (
        flat.ndim == 1
        and lengths.ndim == 1
        and len(lengths) == n
        and len(flat) != n
        and not lengths.is_floating_point()
        and int(lengths.sum()) == len(flat)
    ):
        rows = list(flat.split(lengths.tolist()))
        padded = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=PAD_VALUE)
        return [padded, lengths] if isinstance(y, list) else (padded, lengths)
    return y


def _check_lengths(name: str, x: Tree, y: Tree, n: int) -> None:
    for what, tree in (("input", x), ("target", y)):
        for leaf_name, t in named_leaves(tree, what):
            if t.ndim and int(t.shape[0]) != n:
                raise DataError(
                    f"the {name} {leaf_name} has {int(t.shape[0])} rows in a batch of "
                    f"{n} examples; every input and target tensor needs the examples "
                    f"along its first dimension"
                )


def _tree(value: Any, what: str) -> Tree:
    """A tensor, or a tuple/list/dict of tensors, from what a dataset delivers."""
    if isinstance(value, dict):
        return {k: _tree(v, what) for k, v in value.items()}
    if isinstance(value, (tuple, list)) and value and not _numeric_list(value):
        return type(value)(_tree(v, what) for v in value)
    return _tensor(value, what)


def _numeric_list(value: Any) -> bool:
    """A (nested) list of numbers, one array (a target sequence), not a list of tensors."""
    if isinstance(value, (int, float, bool, np.generic)):
        return True
    return isinstance(value, list) and all(_numeric_list(v) for v in value)


def _tensor(value: Any, what: str) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, (np.ndarray, np.generic, int, float, bool, list)):
        return torch.as_tensor(np.asarray(value) if isinstance(value, list) else value)
    raise DataError(
        f"an {what} is a {type(value).__name__}; the doctor needs tensors or numpy arrays "
        f"(convert images with torchvision.transforms.ToTensor or numpy.asarray)"
    )


def _stack_trees(parts: list[Tree], what: str) -> Tree:
    first = parts[0]
    if all(isinstance(p, Tensor) for p in parts):
        return _stack(parts, what)
    if isinstance(first, dict) and all(
        isinstance(p, dict) and p.keys() == first.keys() for p in parts
    ):
        return {k: _stack_trees([p[k] for p in parts], what) for k in first}
    if isinstance(first, (tuple, list)) and all(
        isinstance(p, (tuple, list)) and len(p) == len(first) for p in parts
    ):
        return type(first)(_stack_trees([p[i] for p in parts], what) for i in range(len(first)))
    raise DataError(
        f"{what} change structure between examples ({describe(first)} and others); "
        f"return the same structure for every example"
    )


def _stack(parts: list[Tensor], what: str) -> Tensor:
    shapes = {tuple(p.shape) for p in parts}
    if len(shapes) == 1:
        return torch.stack(parts)
    if all(p.ndim == 1 for p in parts):  # sequences of different lengths (CTC targets)
        return torch.nn.utils.rnn.pad_sequence(parts, batch_first=True, padding_value=PAD_VALUE)
    raise DataError(
        f"{what} have different shapes {sorted(shapes)[:3]}; resize them to one "
        f"shape, or pass a DataLoader whose collate_fn pads them"
    )


def _cat(name: str, parts: list[Tree], what: str) -> Tree:
    if not parts:
        raise DataError(f"the {name} data yielded no batches; pass a non-empty dataset")
    first = parts[0]
    if isinstance(first, Tensor) and all(isinstance(p, Tensor) for p in parts):
        return _cat_tensors(name, parts, what)
    if isinstance(first, dict) and all(
        isinstance(p, dict) and p.keys() == first.keys() for p in parts
    ):
        return {k: _cat(name, [p[k] for p in parts], what) for k in first}
    if isinstance(first, (tuple, list)) and all(
        isinstance(p, (tuple, list)) and len(p) == len(first) for p in parts
    ):
        return type(first)(_cat(name, [p[i] for p in parts], what) for i in range(len(first)))
    raise DataError(
        f"{name} {what} change structure between batches; return the same structure "
        f"(tensor, tuple or dict of tensors) for every batch"
    )


def _cat_tensors(name: str, parts: list[Tensor], what: str) -> Tensor:
    if len({p.dtype for p in parts}) > 1:
        raise DataError(
            f"{name} {what} change dtype between batches "
            f"({sorted({str(p.dtype) for p in parts})}); use one dtype"
        )
    if len({tuple(p.shape[1:]) for p in parts}) > 1:
        if all(p.ndim == 2 for p in parts):  # padded sequence batches of different widths
            width = max(int(p.shape[1]) for p in parts)
            parts = [
                torch.nn.functional.pad(p, (0, width - p.shape[1]), value=PAD_VALUE) for p in parts
            ]
        else:
            raise DataError(
                f"{name} {what} change shape between batches; make every batch "
                f"the same shape apart from the batch dimension"
            )
    return torch.cat(parts)


def _length(dataset: Any) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None
