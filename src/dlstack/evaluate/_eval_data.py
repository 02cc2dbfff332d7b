"""The labelled examples a package is tested on: a data version's split, with metadata.

>>> data = eval_data(project, split="test")  # doctest: +SKIP
>>> len(data), data.classes[:3]  # doctest: +SKIP
(180, ('0', '1', '2'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.inputs import TableSpec

__all__ = ["EvalData", "eval_data"]


@dataclass(frozen=True)
class EvalData:
    """Labelled examples to test a package on, in the data's own class order."""

    images: np.ndarray  # uint8 (n, H, W[, 3]); (n, 0) for a table
    labels: np.ndarray  # int64 (n,), index into classes
    classes: tuple[str, ...]
    ids: np.ndarray | None = None
    metadata: Mapping[str, np.ndarray] | None = None  # slice keys -> one value per example
    data_version: str = ""
    split: str = "test"
    features: np.ndarray | None = None  # a table's raw rows float64 (n, F)
    table: TableSpec | None = None  # its columns (categorical codes index their categories)
    task: str = "classification"
    # multilabel: 0/1 per class, regression: the numbers (n, K), in ``classes`` order
    targets: np.ndarray | None = None
    # ctc: each line's own width (the images are padded on the right to the widest);
    # ``targets`` are then the lines' character codes (n, L), 0-padded
    widths: np.ndarray | None = None

    def lines(self) -> list[np.ndarray]:
        """Each stored line cut to its own width (ctc), as a client would send it."""
        if self.widths is None:
            raise ValueError("these examples are not lines of variable width")
        from dlstack.inputs import cut_widths

        return cut_widths(self.images, self.widths)

    def __len__(self) -> int:
        return len(self.labels)


def eval_data(
    project: Project,
    *,
    version: str | None = None,
    split: str = "test",
    metadata: bool = True,
) -> EvalData:
    """A data version's ``split`` (HEAD by default), with example metadata for slices."""
    from dlstack.data import snapshot_for

    _, snapshot = snapshot_for(project, version or "HEAD", progress=False)
    arrays = snapshot.split(split)
    meta = None
    if metadata:
        from dlstack.evaluate._slices import example_metadata

        meta = example_metadata(project, arrays.ids)
    return EvalData(
        np.asarray(arrays.images),
        np.asarray(arrays.labels, dtype=np.int64),
        tuple(snapshot.classes),
        np.asarray(arrays.ids),
        meta,
        snapshot.version,
        split,
        None if arrays.features is None else np.asarray(arrays.features),
        snapshot.table,
        snapshot.task,
        None if arrays.targets is None else np.asarray(arrays.targets),
        None if arrays.widths is None else np.asarray(arrays.widths),
    )
