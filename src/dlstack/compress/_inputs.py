"""The model's inputs at export: the sample checked against the input shape(s), the
batches the graph is checked on, the ONNX feeds, and model.json's ``input``/``inputs``.

A model of one input is exported with one graph input named "input" (as every package
before several inputs); a model of several takes one dict, and is exported through
:func:`named_inputs` so that the graph has one named input per entry ("image",
"features"), all sharing the batch dimension.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import DataError
from dlstack.inputs import (
    FEATURES_INPUT,
    IMAGE_INPUT,
    VARIABLE_WIDTH,
    concat_inputs,
    describe_shape,
    input_rows,
    take_rows,
)

if TYPE_CHECKING:
    import torch

    from dlstack.train import TrainResult

__all__ = [
    "INPUT_NAME",
    "ModelInput",
    "check_batches",
    "check_sample",
    "dynamic_dims",
    "feeds",
    "input_shapes",
    "inputs_spec",
    "named_inputs",
]

INPUT_NAME = "input"  # a one-input graph's; several inputs are named as the model's dict
# A line graph is also checked on the sample cut this many pixels narrower: a width the
# exporter did not trace (a multiple of the line models' stride, 4).
NARROWER_BY = 24
ModelInput = np.ndarray | dict[str, np.ndarray]


def input_shapes(result: TrainResult) -> dict[str, tuple[int, ...]]:
    """The model's inputs by name: "input" alone, or "image" and "features"."""
    shape = result.input_shape
    if isinstance(shape, dict):
        return {name: tuple(s) for name, s in shape.items()}
    return {IMAGE_INPUT if len(shape) == 3 else FEATURES_INPUT: tuple(shape)}


def check_sample(
    sample: np.ndarray | dict[str, np.ndarray],
    input_shape: tuple[int, ...] | dict[str, tuple[int, ...]],
) -> ModelInput:
    """The sample as contiguous float32, checked against the model's input shape(s)."""
    if isinstance(input_shape, dict):
        if not isinstance(sample, dict) or set(sample) != set(input_shape):
            got = sorted(sample) if isinstance(sample, dict) else "one array"
            raise DataError(
                f"sample must be a dict of model input by name {sorted(input_shape)}, got "
                f"{got}; make it with result.normalization.model_input"
            )
        checked = {name: _check_one(sample[name], shape) for name, shape in input_shape.items()}
        if len({len(v) for v in checked.values()}) != 1:
            raise DataError(
                f"sample's inputs differ in their example count: {describe_shape(checked)}"
            )
        return checked
    if isinstance(sample, dict):
        raise DataError("sample is a dict, but the model takes one input; pass its array")
    return _check_one(sample, input_shape)


def _check_one(sample: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    x = np.asarray(sample)
    fits = x.ndim == len(input_shape) + 1 and all(
        want in (got, VARIABLE_WIDTH) for got, want in zip(x.shape[1:], input_shape, strict=True)
    )
    if not fits or len(x) < 1:
        dims = ", ".join(map(str, input_shape))
        raise DataError(
            f"sample must be a batch of model input (N, {dims}) with N >= 1, got "
            f"{x.shape}; make it with dlstack.inputs.to_model_input"
        )
    if not np.isfinite(x).all():
        raise DataError("sample contains NaN or infinite values; pass real model input")
    return np.ascontiguousarray(x, dtype=np.float32)


def check_batches(x: ModelInput, variable_width: bool = False) -> list[ModelInput]:
    """Batch size 1 and the sample's size (at least 2): checks that the batch axis is
    dynamic; lines (``variable_width``) also at a narrower width, for the width axis."""
    batches = [take_rows(x, slice(0, 1)), x if input_rows(x) > 1 else concat_inputs([x, x])]
    if variable_width and isinstance(x, np.ndarray) and x.shape[-1] >= 2 * NARROWER_BY:
        batches.append(np.ascontiguousarray(x[..., : x.shape[-1] - NARROWER_BY]))
    return batches


def dynamic_dims(shape: tuple[int, ...]) -> list[int]:
    """The graph input's dynamic axes: the batch (0), and a variable width (-1 in the
    model's input shape, e.g. (1, 32, -1): axis 3)."""
    return [0, *(i + 1 for i, d in enumerate(shape) if d == VARIABLE_WIDTH)]


def feeds(x: ModelInput) -> dict[str, np.ndarray]:
    """onnxruntime's input feed: the one input by its name, or every named input."""
    return dict(x) if isinstance(x, dict) else {INPUT_NAME: x}


def named_inputs(model: torch.nn.Module, names: list[str]) -> torch.nn.Module:
    """``model`` (which takes one dict) as a module of one positional tensor per name:
    the ONNX exporters name graph inputs after positional arguments."""
    import torch

    class NamedInputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(names, tensors, strict=True)))

    return NamedInputs().eval()


def inputs_spec(result: TrainResult) -> dict[str, Any]:
    """model.json's ``input`` (one input, as before several existed) or ``inputs``."""
    shapes = input_shapes(result)
    if not isinstance(result.input_shape, dict):
        ((_, shape),) = shapes.items()
        return {"input": _input_spec(result, INPUT_NAME, shape)}
    return {"inputs": [_input_spec(result, name, shape) for name, shape in shapes.items()]}


def _input_spec(result: TrainResult, name: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """One input of model.json: how serving makes it, as training did."""
    norm = result.normalization
    if len(shape) == 1:
        assert norm.table is not None
        (width,) = shape
        return {
            "name": name,
            "dtype": "float32",
            "kind": "table",
            "shape": [-1, width],
            "layout": "NC",
            "table": norm.table,
        }
    c, h, w = shape
    mean, std = list(norm.mean), list(norm.std)
    # Runs from before [data.image]: the background from the train split's brightness.
    legacy_background = "dark" if sum(mean) / len(mean) < 0.5 else "light"
    image = result.image or {"resize": "fit", "background": legacy_background}
    return {
        "name": name,
        "dtype": "float32",
        "kind": "image",
        "shape": [-1, c, h, w],
        "layout": "NCHW",
        "pixel_scale": 255,
        "normalization": {"mean": mean, "std": std},
        "color": "grayscale" if c == 1 else "rgb",
        "background": image["background"],
        "resize": image["resize"],
    }
