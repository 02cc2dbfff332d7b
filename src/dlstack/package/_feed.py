"""What a package's graph is fed: model input checked against model.json, images
prepared and table rows encoded as training made them (numpy and PIL, no torch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dlstack.errors import DataError
from dlstack.inputs import (
    VARIABLE_WIDTH,
    ImageSource,
    PreparedImage,
    TableEncoder,
    describe_shape,
    preprocess_images,
)
from dlstack.package._spec import InputSpec, PackageSpec

__all__ = ["check_model_input", "encode_rows", "prepare_images"]


def check_model_input(spec: PackageSpec, x: np.ndarray | Mapping[str, np.ndarray]) -> Any:
    """``x`` (an array, or a dict by input name for several inputs) as contiguous float32
    of the shapes model.json states; a DataError names the input that does not fit."""
    names = [i.name for i in spec.inputs]
    if isinstance(x, Mapping):
        arrays = dict(x)
    elif len(names) > 1:
        raise DataError(
            f"package {spec.name} takes several inputs ({', '.join(names)}): pass a dict of "
            f"them; make it with ModelPackage.model_input"
        )
    else:
        arrays = {names[0]: x}
    absent = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if absent or extra:
        problems = [f"missing {', '.join(absent)}"] if absent else []
        problems += [f"unknown {', '.join(extra)}"] if extra else []
        raise DataError(
            f"package {spec.name} takes input(s) {', '.join(names)}; {'; '.join(problems)}"
        )
    checked: dict[str, np.ndarray] = {}
    for inp in spec.inputs:
        a = np.asarray(arrays[inp.name])
        want = tuple(inp.shape[1:])
        fits = a.ndim == len(want) + 1 and all(
            w in (g, VARIABLE_WIDTH) and g > 0 for g, w in zip(a.shape[1:], want, strict=True)
        )
        if not fits:
            raise DataError(
                f"model input {inp.name!r} must have shape (N, {', '.join(map(str, want))}), "
                f"got {tuple(a.shape)}; make it with ModelPackage.model_input"
            )
        if len(a) == 0:
            raise DataError("model input is empty (N = 0); pass at least one example")
        checked[inp.name] = np.ascontiguousarray(a, dtype=np.float32)
    if len({len(a) for a in checked.values()}) != 1:
        raise DataError(
            f"the inputs of one batch must have the same number of examples, got "
            f"{describe_shape(checked)}"
        )
    return checked if len(names) > 1 else checked[names[0]]


def prepare_images(
    spec: InputSpec, images: Sequence[ImageSource], max_pixels: int
) -> tuple[np.ndarray, list[PreparedImage]]:
    """Image files or bytes -> the image input (N, C, H, W), prepared as in training."""
    assert spec.color is not None  # an image input (PackageSpec checked it)
    return preprocess_images(
        images,
        size=spec.size,
        mean=spec.norm.mean,
        std=spec.norm.std,
        color=spec.color,
        background=spec.background,
        resize=spec.resize,
        max_pixels=max_pixels,
    )


def encode_rows(
    encoder: TableEncoder, rows: Sequence[Mapping[str, Any]]
) -> tuple[np.ndarray, list[tuple[str, list[str]]]]:
    """Rows -> the encoded table input (N, D), and each row's notices: categories the
    training data never had (encoded as none) and missing values (the train mean)."""
    raw = encoder.rows_to_raw(rows)
    notes = []
    for i, row in enumerate(rows):
        unknown = [
            f"{c.name} = {row[c.name]!r}"
            for j, c in enumerate(encoder.columns)
            if c.kind == "categorical"
            and row[c.name] not in (None, "")
            and str(row[c.name]).strip() not in encoder.vocabulary[j]
        ]
        missing = [c.name for c in encoder.columns if row[c.name] in (None, "")]
        notice = []
        if unknown:
            notice.append(f"categories not seen in training (encoded as none): {unknown}")
        if missing:
            notice.append(f"missing values filled by the train mean: {missing}")
        notes.append((f"row {i + 1}", notice))
    return encoder.transform(raw), notes
