"""The train split's range of each model input, recorded in model.json
(``InputSpec.train_range``): serving compares each request with it and warns when an input
lies far outside what the model was trained on (a 0..255 image sent where scaled and
standardized pixels are expected; a table value 50 standard deviations out), instead of
answering garbage silently.

The range is measured on the model input itself, made by ``result.normalization``
exactly as training made it: per channel for an image (the 0.1% and 99.9% quantiles, so a
few extreme pixels do not widen it, and the min and max), per encoded feature for a table
(min and max: every value of a feature is meaningful).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import DataError
from dlstack.inputs import TableEncoder

if TYPE_CHECKING:
    from dlstack.data import SplitArrays
    from dlstack.train import TrainResult

__all__ = ["IMAGE_QUANTILE", "MAX_RANGE_VALUES", "add_train_ranges", "train_model_input"]

# An image channel's range: its 0.1% and 99.9% quantiles over the train split.
IMAGE_QUANTILE = 0.001
# Values measured per export (~64 MB of float32): beyond that, evenly spaced train examples.
# 2**24 is every example of a 28x28 set of 21,000 images, or 110 photos of 3x224x224.
MAX_RANGE_VALUES = 2**24
_CHANNEL_NAMES = {1: ["gray"], 3: ["red", "green", "blue"]}


def train_model_input(result: TrainResult, train: SplitArrays) -> Any:
    """The model input of (evenly spaced examples of, up to MAX_RANGE_VALUES values) the
    train split, as training made it: an array, or a dict of them by input name."""
    n = len(train)
    if n == 0:
        raise DataError(
            "the train split given to export is empty; pass the split the model was "
            "trained on (snapshot.split('train')), or leave train out to record no range"
        )
    first = result.normalization.model_input(_take(train, np.arange(1)))
    per_example = sum(a[0].size for a in (first.values() if isinstance(first, dict) else [first]))
    keep = min(n, max(1, MAX_RANGE_VALUES // max(per_example, 1)))
    rows = np.unique(np.linspace(0, n - 1, keep).round().astype(np.int64))
    return result.normalization.model_input(_take(train, rows))


def add_train_ranges(inputs: dict[str, Any], model_input: Any) -> dict[str, Any]:
    """model.json's ``input``/``inputs`` (as ``inputs_spec`` makes them) with each input's
    ``train_range`` measured on ``model_input`` (one array, or a dict by input name)."""
    if "input" in inputs:
        (array,) = model_input.values() if isinstance(model_input, dict) else [model_input]
        return {"input": _with_range(inputs["input"], array)}
    return {"inputs": [_with_range(spec, model_input[spec["name"]]) for spec in inputs["inputs"]]}


def _with_range(spec: dict[str, Any], x: np.ndarray) -> dict[str, Any]:
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise DataError(
            f"the train split's model input {spec['name']!r} has NaN or infinite values; "
            f"its range cannot be recorded (check the data's steps and normalization)"
        )
    if spec.get("kind", "image") == "table":
        values = x.reshape(len(x), -1)  # (N, D): one column per encoded feature
        names = TableEncoder.from_dict(spec["table"]).feature_names
        low, high, quantile = values.min(axis=0), values.max(axis=0), 0.0
    else:
        values = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1).T  # (N*H*W, C)
        names = _CHANNEL_NAMES.get(x.shape[1], [f"channel {c}" for c in range(x.shape[1])])
        quantile = IMAGE_QUANTILE
        low, high = np.quantile(values, [quantile, 1 - quantile], axis=0)
    train_range = {
        "per": "feature" if spec.get("kind") == "table" else "channel",
        "names": names,
        "quantile": quantile,
        "low": _floats(low),
        "high": _floats(high),
        "min": _floats(values.min(axis=0)),
        "max": _floats(values.max(axis=0)),
        "examples": len(x),
    }
    return {**spec, "train_range": train_range}


def _floats(values: np.ndarray) -> list[float]:
    # Six digits: the warning's margin is half the range's width, far above the rounding.
    return [float(f"{v:.6g}") for v in values]


def _take(train: SplitArrays, rows: np.ndarray) -> SplitArrays:
    """The split's examples ``rows``: every per-example array indexed alike."""
    picked = {
        f.name: value[rows]
        for f in dataclasses.fields(train)
        if isinstance(value := getattr(train, f.name), np.ndarray) and len(value) == len(train)
    }
    return dataclasses.replace(train, **picked)
