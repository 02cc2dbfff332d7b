"""Metrics per slice of the data: per class, per source, per writer, per any metadata key.

A model that is good on average can be bad for one group of examples; the practice asks
for quality "on important data slices". A slice is every example with the same value of
one key: ``class`` (the true label), ``source`` (where it was ingested from) or any
column of the example's metadata (from a CSV/JSONL manifest: writer, device...).

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); p = np.array([0, 1, 1, 1])
>>> rows = slice_metrics(y, p, 2, {"writer": np.array(["ann", "ann", "bob", "bob"])})
>>> [(r.key, r.value, r.n, r.metrics["accuracy"]) for r in rows if r.key == "writer"]
[('writer', 'ann', 2, 0.5), ('writer', 'bob', 2, 1.0)]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import DataError
from dlstack.metrics import classification_metrics, multilabel_metrics, regression_metrics

if TYPE_CHECKING:
    from dlstack.config import Project

__all__ = [
    "CLASS_KEY",
    "LENGTH_KEY",
    "MAX_SLICE_VALUES",
    "SliceResult",
    "example_metadata",
    "slice_keys",
    "slice_metrics",
    "task_slice_metrics",
]

CLASS_KEY = "class"  # the slice by true label; always available
LENGTH_KEY = "length"  # a line reader's slice by the true line's length (characters)
# A key with more distinct values than this (file names, ids) is not a slice, it is a list.
MAX_SLICE_VALUES = 200
_NOT_SLICES = ("name", "path", "id", "file", "filename")  # unique per example by design


@dataclass(frozen=True)
class SliceResult:
    """The metrics of the examples whose ``key`` equals ``value``."""

    key: str
    value: str
    n: int
    metrics: dict[str, float]  # accuracy, error, precision, recall, f1 (see slice_metrics)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "n": self.n, "metrics": self.metrics}


def slice_metrics(
    targets: np.ndarray,
    predictions: np.ndarray,
    num_classes: int,
    groups: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    *,
    classes: Sequence[str] | None = None,
    include_classes: bool = True,
) -> list[SliceResult]:
    """Metrics per value of each key in ``groups`` (plus per class), ordered by key, value.

    Per class (key ``class``): the class's precision, recall and F1 against everything else,
    and ``accuracy`` = recall (the share of that class predicted right). Per other slice:
    accuracy, error and macro precision/recall/F1 over the classes present in the slice.
    Missing metadata (None, "") is its own slice, shown as ``(missing)``.
    """
    y = np.asarray(targets)
    p = np.asarray(predictions)
    overall = classification_metrics(y, p, num_classes)
    labels = (
        [str(c) for c in classes] if classes is not None else [str(i) for i in range(num_classes)]
    )
    out: list[SliceResult] = []
    if include_classes:
        for i in range(num_classes):
            n = int(overall.support[i])
            if n == 0:
                continue
            recall = float(overall.recall[i])
            out.append(
                SliceResult(
                    CLASS_KEY,
                    labels[i],
                    n,
                    {
                        "accuracy": recall,
                        "error": 1 - recall,
                        "precision": float(overall.precision[i]),
                        "recall": recall,
                        "f1": float(overall.f1[i]),
                    },
                )
            )
    for key, column in (groups or {}).items():
        values = np.asarray([_text(v) for v in column], dtype=object)
        if values.shape[0] != y.shape[0]:
            raise DataError(
                f"slice key {key!r} has {values.shape[0]} values for {y.shape[0]} examples; "
                f"pass one value per example"
            )
        for value in sorted(set(values.tolist())):
            mask = values == value
            m = classification_metrics(y[mask], p[mask], num_classes)
            out.append(
                SliceResult(
                    key,
                    value,
                    int(mask.sum()),
                    {
                        "accuracy": m.accuracy,
                        "error": 1 - m.accuracy,
                        "precision": m.precision_macro,
                        "recall": m.recall_macro,
                        "f1": m.f1_macro,
                    },
                )
            )
    return out


def task_slice_metrics(
    task: str,
    targets: np.ndarray,
    predictions: np.ndarray,
    probabilities: np.ndarray,
    groups: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    *,
    classes: Sequence[str],
    thresholds: np.ndarray | None = None,
) -> list[SliceResult]:
    """:func:`slice_metrics` for a multilabel or regression task (classification: that).

    Multilabel: per class (key ``class``: the examples that hold it) its precision, recall
    and F1, and per other slice the share of right label decisions (``accuracy``,
    ``error`` = Hamming loss), macro precision/recall/F1 and ``exact_match``.
    Regression: per slice ``mae``, ``rmse`` and ``r2`` (NaN below two examples or on a
    constant target); there is no slice by class.
    Ctc (line reading; targets and predictions are character codes, or the texts as an
    object array): per slice ``cer``,
    ``wer``, ``line_accuracy`` and ``error`` (= cer), with the slice ``length`` (the true
    line's length in characters: 1-3, 4-6, 7-9, 10+) in place of the class.
    """
    if task == "classification":
        return slice_metrics(targets, predictions, len(classes), groups, classes=classes)
    if task == "ctc":
        return _ctc_slices(targets, predictions, groups, tuple(classes))
    y = np.asarray(targets)
    out: list[SliceResult] = []
    if task == "multilabel":
        overall = multilabel_metrics(y, probabilities, thresholds)
        for i, label in enumerate(classes):
            n = int(overall.support[i])
            if n:
                recall = float(overall.recall[i])
                metrics = {"accuracy": recall, "error": 1 - recall, "recall": recall}
                metrics |= {"precision": float(overall.precision[i]), "f1": float(overall.f1[i])}
                out.append(SliceResult(CLASS_KEY, str(label), n, metrics))
    for key, column in (groups or {}).items():
        values = np.asarray([_text(v) for v in column], dtype=object)
        if values.shape[0] != y.shape[0]:
            raise DataError(
                f"slice key {key!r} has {values.shape[0]} values for {y.shape[0]} examples; "
                f"pass one value per example"
            )
        for value in sorted(set(values.tolist())):
            mask = values == value
            out.append(
                SliceResult(
                    key,
                    value,
                    int(mask.sum()),
                    _group_metrics(
                        task, y[mask], predictions[mask], probabilities[mask], thresholds
                    ),
                )
            )
    return out


def _ctc_slices(
    targets: np.ndarray,
    predictions: np.ndarray,
    groups: Mapping[str, Sequence[Any] | np.ndarray] | None,
    alphabet: tuple[str, ...],
) -> list[SliceResult]:
    from dlstack.metrics import LENGTH_BUCKETS, length_bucket, transcription_metrics
    from dlstack.targets import ctc_text

    def texts(rows: np.ndarray) -> list[str]:  # character codes (n, L), or the texts
        rows = np.asarray(rows)
        if rows.dtype == object:
            return [str(t) for t in rows]
        return [ctc_text(row, alphabet) for row in rows]

    truth, read = texts(targets), texts(predictions)
    lengths = np.array([length_bucket(len(t)) for t in truth], dtype=object)
    order = {f"{lo}-{hi}" if hi else f"{lo}+": i for i, (lo, hi) in enumerate(LENGTH_BUCKETS)}
    out: list[SliceResult] = []
    keyed = [(LENGTH_KEY, lengths), *(groups or {}).items()]
    for key, column in keyed:
        values = np.asarray([_text(v) for v in column], dtype=object)
        if values.shape[0] != len(truth):
            raise DataError(
                f"slice key {key!r} has {values.shape[0]} values for {len(truth)} examples; "
                f"pass one value per example"
            )
        for value in sorted(set(values.tolist()), key=lambda v: (order.get(v, len(order)), v)):
            rows = np.flatnonzero(values == value)
            m = transcription_metrics([truth[i] for i in rows], [read[i] for i in rows])
            metrics = {**m.summary(), "error": m.cer}
            out.append(SliceResult(key, value, len(rows), metrics))
    return out


def _group_metrics(
    task: str,
    y: np.ndarray,
    predictions: np.ndarray,
    probabilities: np.ndarray,
    thresholds: np.ndarray | None,
) -> dict[str, float]:
    if task == "regression":
        return regression_metrics(y, predictions).summary()
    m = multilabel_metrics(y, probabilities, thresholds)
    return {
        "accuracy": m.accuracy,
        "error": m.hamming_loss,
        "exact_match": m.exact_match,
        "precision": m.precision_macro,
        "recall": m.recall_macro,
        "f1": m.f1_macro,
    }


def slice_keys(metadata: Mapping[str, Sequence[Any] | np.ndarray]) -> list[str]:
    """The metadata keys worth slicing by: not unique per example, not too many values."""
    keys = []
    for key, column in metadata.items():
        if key.lower() in _NOT_SLICES:
            continue
        distinct = {_text(v) for v in column}
        if 1 < len(distinct) <= min(MAX_SLICE_VALUES, max(2, len(column) // 2)):
            keys.append(key)
    return keys


def example_metadata(project: Project, ids: Sequence[str] | np.ndarray) -> dict[str, np.ndarray]:
    """Per example id (in the order given): ``source`` and every metadata key of the catalog.

    Reads the catalog's ``examples`` table (through ``DataRepo.query``). Keys an example
    lacks are None for it.
    """
    from dlstack.data import DataRepo

    repo = DataRepo.open(project)
    try:
        table = repo.query("SELECT id, source, meta FROM examples")
    finally:
        repo.close()
    rows = table.to_pylist()
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        meta = row.get("meta")
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = {}
        if not isinstance(meta, dict):
            meta = {}
        by_id[str(row["id"])] = {"source": row.get("source"), **meta}
    keys: list[str] = []
    for record in by_id.values():
        keys += [k for k in record if k not in keys]
    wanted = [by_id.get(str(i), {}) for i in ids]
    return {k: np.asarray([r.get(k) for r in wanted], dtype=object) for k in keys}


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return "(missing)"
    return str(value)
