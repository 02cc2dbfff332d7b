"""Several inputs per example: the model input as one array, or a dict of arrays by name.

A project whose manifest names an image (``path``) and feature columns trains a model
with two inputs, ``"image"`` (N, C, H, W) and ``"features"`` (N, D); the model receives
them as one dict argument, ``model({"image": x, "features": f})``, and the ONNX graph has
one named input per modality. These helpers treat both forms alike, for numpy arrays and
torch tensors (anything with ``len``, slicing and ``shape``), so batching, slicing and
shape messages need no ``isinstance`` of their own.

>>> import numpy as np
>>> x = {"image": np.zeros((4, 1, 2, 2)), "features": np.ones((4, 3))}
>>> input_rows(x), example_shape(x)
(4, {'image': (1, 2, 2), 'features': (3,)})
>>> input_rows(take_rows(x, slice(1, 3))), describe_shape(concat_inputs([x, x]))
(2, 'image (8, 1, 2, 2), features (8, 3)')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "FEATURES_INPUT",
    "IMAGE_INPUT",
    "INPUT_KINDS",
    "concat_inputs",
    "describe_shape",
    "example_shape",
    "input_rows",
    "map_input",
    "take_rows",
]

# The input names of a two-input model: its dict's keys, its ONNX graph's input names,
# model.json's ``inputs[].name``. A one-input package keeps the name "input".
IMAGE_INPUT = "image"
FEATURES_INPUT = "features"
INPUT_KINDS = {IMAGE_INPUT: "image", FEATURES_INPUT: "table"}

T = TypeVar("T")


def map_input(fn: Callable[[Any], Any], x: Any) -> Any:
    """``fn`` on the array, or on each array of a dict (keys and order kept)."""
    if isinstance(x, Mapping):
        return {name: fn(value) for name, value in x.items()}
    return fn(x)


def input_rows(x: Any) -> int:
    """The number of examples (the first axis; every input of a dict has the same)."""
    if isinstance(x, Mapping):
        return len(next(iter(x.values()))) if x else 0
    return len(x)


def take_rows(x: T, rows: Any) -> T:
    """Examples ``rows`` (a slice, indices or a mask) of every input."""
    return map_input(lambda v: v[rows], x)


def concat_inputs(parts: Sequence[Any]) -> Any:
    """Batches of model input, one after the other (numpy arrays)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if isinstance(first, Mapping):
        return {name: np.concatenate([p[name] for p in parts]) for name in first}
    return np.concatenate(parts)


def example_shape(x: Any) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """One example's shape: ``(C, H, W)``, or ``{name: shape}`` for several inputs."""
    if isinstance(x, Mapping):
        return {name: tuple(int(d) for d in v.shape[1:]) for name, v in x.items()}
    return tuple(int(d) for d in x.shape[1:])


def describe_shape(x: Any) -> str:
    """A batch's shape for a message: ``(64, 1, 8, 8)``, or ``image (64, 1, 8, 8), features
    (64, 3)`` for several inputs."""
    if isinstance(x, Mapping):
        return ", ".join(f"{name} {tuple(v.shape)}" for name, v in x.items())
    return str(tuple(x.shape))
