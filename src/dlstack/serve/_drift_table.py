"""Per-feature drift for table models: the served rows' columns against the training rows.

The prediction log writes each table prediction's values to the lake dataset
``prediction_features``, one row per (prediction, column) — long format, so the schema
is the same for every model: ``value`` for a number (NaN when missing), ``category`` for
a category ("" when missing). ``dlstack monitor`` compares each numeric column with the
training split's by a two-sample KS test and each categorical one by PSI over its
categories, with the same thresholds as the image statistics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.inputs import parse_value

if TYPE_CHECKING:
    from dlstack.data import Lake, Snapshot
    from dlstack.inputs import Column, TableEncoder

__all__ = [
    "FEATURES_DATASET",
    "feature_rows",
    "logged_rows",
    "reference_features",
    "served_features",
]

FEATURES_DATASET = "prediction_features"


def feature_rows(
    when: datetime,
    prediction_ids: Sequence[str],
    model: str,
    version: int,
    rows: Sequence[Mapping[str, Any]],
    encoder: TableEncoder,
) -> list[dict[str, Any]]:
    """The long-format lake rows of ``rows`` (as the client sent them)."""
    out = []
    for prediction_id, row in zip(prediction_ids, rows, strict=True):
        for col in encoder.columns:
            # Already checked by the encoder (rows_to_raw): parse_value cannot fail here.
            value = parse_value(col.name, col.kind, row.get(col.name))
            out.append(
                {
                    "ts": when,
                    "prediction_id": prediction_id,
                    "model": model,
                    "version": version,
                    "column": col.name,
                    "value": value if isinstance(value, float) else float("nan"),
                    "category": value if isinstance(value, str) else "",
                }
            )
    return out


def reference_features(snapshot: Snapshot, split: str = "train") -> dict[str, np.ndarray]:
    """Each column of the training rows: floats (NaN missing) or category names ("")."""
    assert snapshot.table is not None
    raw = snapshot.split(split).features
    assert raw is not None
    out: dict[str, np.ndarray] = {}
    for j, col in enumerate(snapshot.table.columns):
        values = raw[:, j]
        if col.kind == "numeric":
            out[col.name] = values.astype(float)
        else:
            out[col.name] = np.array(
                ["" if np.isnan(v) else col.categories[int(v)] for v in values], dtype=str
            )
    return out


def logged_rows(
    lake: Lake,
    dataset: str,
    model: str,
    *,
    version: int | None = None,
    since: datetime | None = None,
) -> Any:
    """The rows of a prediction-log dataset for ``model`` (one version, or all) since a
    time, as a pyarrow Table; None when nothing was logged yet."""
    import pyarrow.compute as pc

    if dataset not in lake.datasets():
        return None
    table = lake.read(dataset)
    mask = pc.equal(table["model"], model)
    if version is not None:
        mask = pc.and_(mask, pc.equal(table["version"], version))
    if since is not None:
        mask = pc.and_(mask, pc.greater_equal(table["ts"], since))
    return table.filter(mask)


def served_features(
    lake: Lake,
    model: str,
    columns: Sequence[Column],
    *,
    version: int | None = None,
    since: datetime | None = None,
) -> dict[str, np.ndarray]:
    """Each column of the logged rows of ``model``, as :func:`reference_features` has it."""
    rows = logged_rows(lake, FEATURES_DATASET, model, version=version, since=since)
    if rows is None:
        return {}
    names = np.array(rows["column"].to_pylist(), dtype=str)
    values = rows["value"].to_numpy(zero_copy_only=False).astype(float)
    categories = np.array(rows["category"].to_pylist(), dtype=str)
    return {
        c.name: values[names == c.name] if c.kind == "numeric" else categories[names == c.name]
        for c in columns
    }
