"""Tables of measurements: the columns of a dataset, and the encoder a model is trained
with. numpy only: ingest, checkout, training and torch-free serving share it.

A dataset's raw table is float64 (N, F), one column per feature, NaN where a value is
missing; a categorical column holds the index of its value in that column's categories
(the values seen in the data version, sorted). :class:`TableEncoder` is fitted on the
train split only and saved with the model, as image normalization is:

- numeric: standardized with the train split's mean and std; a missing value becomes the
  train mean (0 after standardizing) — the stated rule ``missing = "mean"``;
- categorical: one-hot over the categories the train split holds; a category the train
  split never saw (at serving, or in val/test) and a missing one encode as all zeros —
  the stated rule ``unknown = "zeros"``.

>>> table = TableSpec((Column("size", "numeric"), Column("kind", "categorical", ("a", "b"))))
>>> raw = np.array([[1.0, 0], [3.0, 1], [np.nan, 1]])
>>> enc = TableEncoder.fit(raw, table)
>>> enc.width, enc.feature_names
(3, ['size', 'kind=a', 'kind=b'])
>>> enc.transform(raw).round(2).tolist()
[[-1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
>>> enc.transform(enc.rows_to_raw([{"size": 2, "kind": "zebra"}])).tolist()
[[0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dlstack.errors import DataError

__all__ = ["Column", "TableEncoder", "TableSpec", "infer_columns", "parse_value"]

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    categories: tuple[str, ...] = ()  # categorical: the values seen in the data version


@dataclass(frozen=True)
class TableSpec:
    """The columns of a dataset's raw table, in order."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [
                {"name": c.name, "kind": c.kind, "categories": list(c.categories)}
                for c in self.columns
            ]
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableSpec:
        return cls(
            tuple(
                Column(str(c["name"]), c["kind"], tuple(str(v) for v in c.get("categories", ())))
                for c in data["columns"]
            )
        )


def parse_value(column: str, kind: Kind, value: Any) -> float | str | None:
    """A raw cell -> a float (numeric), a str (categorical) or None (missing); DataError
    naming the column and the value when a numeric cell is not a number."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if kind == "categorical":
        return str(value).strip() if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        raise DataError(f"column {column!r} = {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(
            f"column {column!r} = {str(value)[:40]!r} is not a number; declare it in "
            f"[data.table] categorical if it is a category, or fix the value"
        ) from None
    if not math.isfinite(number):
        raise DataError(f"column {column!r} = {value!r} is not a finite number")
    return number


def infer_columns(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str], categorical: Sequence[str] = ()
) -> tuple[TableSpec, list[str]]:
    """The kinds of ``names``: categorical when listed in ``categorical``; else numeric
    when every value reads as a number (when ``categorical`` is empty), with a note for
    each column read as categorical."""
    cols, notes = [], []
    for name in names:
        kind: Kind = "numeric"
        if name in categorical:
            kind = "categorical"
        elif not categorical:
            try:
                for row in rows:
                    parse_value(name, "numeric", row.get(name))
            except DataError:
                kind = "categorical"
                notes.append(f"column {name!r} read as categorical: not every value is a number")
        cols.append(Column(name, kind))
    return TableSpec(tuple(cols)), notes


@dataclass(frozen=True)
class TableEncoder:
    """Raw table -> standardized float32 model input; fitted on the train split only."""

    columns: tuple[Column, ...]
    mean: tuple[float, ...]  # per column; 0 for categorical
    std: tuple[float, ...]  # per column; 1 for categorical
    vocabulary: tuple[tuple[str, ...], ...]  # per column: the train split's categories

    missing: str = "mean"  # numeric NaN -> the train mean; categorical -> all zeros
    unknown: str = "zeros"  # a category the train split never had -> all zeros

    @classmethod
    def fit(cls, raw: np.ndarray, table: TableSpec) -> TableEncoder:
        raw = np.asarray(raw, dtype=np.float64)
        means: list[float] = []
        stds: list[float] = []
        vocab: list[tuple[str, ...]] = []
        for j, col in enumerate(table.columns):
            values = raw[:, j]
            present = values[~np.isnan(values)]
            if col.kind == "numeric":
                m = float(present.mean()) if len(present) else 0.0
                s = float(present.std()) if len(present) else 1.0
                means.append(m)
                stds.append(s if s > 1e-12 else 1.0)  # a constant column: centered only
                vocab.append(())
            else:
                seen = sorted({int(v) for v in present})
                means.append(0.0)
                stds.append(1.0)
                vocab.append(tuple(col.categories[i] for i in seen))
        return cls(table.columns, tuple(means), tuple(stds), tuple(vocab))

    @property
    def feature_names(self) -> list[str]:
        names = []
        for col, vocab in zip(self.columns, self.vocabulary, strict=True):
            if col.kind == "numeric":
                names.append(col.name)
            else:
                names.extend(f"{col.name}={v}" for v in vocab)
        return names

    @property
    def width(self) -> int:
        return len(self.feature_names)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw table (N, F) in the data's coding -> float32 (N, width)."""
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != len(self.columns):
            raise DataError(
                f"expected a table of {len(self.columns)} columns "
                f"({', '.join(c.name for c in self.columns)}), got shape {raw.shape}"
            )
        parts = []
        for j, (col, vocab) in enumerate(zip(self.columns, self.vocabulary, strict=True)):
            values = raw[:, j]
            if col.kind == "numeric":
                z = (values - self.mean[j]) / self.std[j]
                parts.append(np.where(np.isnan(z), 0.0, z)[:, None])
            else:
                # data code -> one-hot column; -1 for codes the train split never had
                lookup = np.full(len(col.categories) + 1, -1)
                for k, v in enumerate(vocab):
                    lookup[col.categories.index(v)] = k
                codes = np.where(np.isnan(values), len(col.categories), values).astype(np.int64)
                codes = np.clip(codes, 0, len(col.categories))
                column = lookup[codes]
                one_hot = np.zeros((len(raw), len(vocab)))
                hit = np.flatnonzero(column >= 0)
                one_hot[hit, column[hit]] = 1.0
                parts.append(one_hot)
        if not parts:
            return np.zeros((len(raw), 0), np.float32)
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def rows_to_raw(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """JSON rows ({column: value}) -> the raw table, in the data's coding.

        Every column must be present (a missing value is null or ""); an unknown column or a
        non-number in a numeric one is a DataError naming it. A category not in the data's
        list is coded as unknown (encodes as all zeros, the stated rule).
        """
        names = [c.name for c in self.columns]
        raw = np.full((len(rows), len(names)), np.nan)
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise DataError(f"row {i + 1} must be an object of column: value, got {row!r}")
            extra = sorted(set(row) - set(names))
            absent = [n for n in names if n not in row]
            if extra or absent:
                raise DataError(
                    f"row {i + 1}: "
                    + "; ".join(
                        part
                        for part in (
                            f"unknown column(s) {', '.join(map(repr, extra))}" if extra else "",
                            f"missing column(s) {', '.join(map(repr, absent))}" if absent else "",
                        )
                        if part
                    )
                    + f"; the model takes {', '.join(names)} (null for a missing value)"
                )
            for j, col in enumerate(self.columns):
                value = parse_value(col.name, col.kind, row[col.name])
                if value is None:
                    continue
                if col.kind == "numeric":
                    raw[i, j] = float(value)
                else:
                    raw[i, j] = (
                        col.categories.index(str(value))
                        if str(value) in col.categories
                        else len(col.categories)  # unknown: no one-hot column matches
                    )
        return raw

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": TableSpec(self.columns).to_dict(),
            "mean": list(self.mean),
            "std": list(self.std),
            "vocabulary": [list(v) for v in self.vocabulary],
            "missing": self.missing,
            "unknown": self.unknown,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableEncoder:
        table = TableSpec.from_dict(data["table"])
        return cls(
            table.columns,
            tuple(float(v) for v in data["mean"]),
            tuple(float(v) for v in data["std"]),
            tuple(tuple(str(x) for x in v) for v in data["vocabulary"]),
            str(data.get("missing", "mean")),
            str(data.get("unknown", "zeros")),
        )
