"""Checkout's arrays for line images: padded to the widest, each line's width, and a ctc
task's character codes (``dlstack.targets.ctc_codes``) over the alphabet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlstack.inputs import ImageSpec, pad_widths
from dlstack.targets import TargetSpec, ctc_codes

__all__ = ["LineArrays", "ctc_alphabet", "line_arrays"]


@dataclass(frozen=True)
class LineArrays:
    images: np.ndarray  # uint8 (N, H, Wmax[, 3]), padded on the right with the background
    widths: np.ndarray | None  # int32 (N,) each line's own width; None: one fixed size
    codes: np.ndarray | None  # int64 (N, L) a ctc task's codes; None: another task
    classes: tuple[str, ...]  # a ctc task's alphabet; else the version's classes


def ctc_alphabet(
    labels: Sequence[str], classes: Sequence[str], targets: TargetSpec | None
) -> tuple[str, ...]:
    """The declared ``[data] classes`` in their order, else the version's (the sorted
    characters its first ingest saw), else the sorted characters of ``labels``."""
    if targets is not None and targets.classes:
        return tuple(targets.classes)
    return tuple(classes) or tuple(sorted({ch for text in labels for ch in text}))


def line_arrays(
    task: str,
    spec: ImageSpec | None,
    pixels: list[np.ndarray],
    labels: Sequence[str],
    classes: Sequence[str],
    targets: TargetSpec | None,
) -> LineArrays | None:
    """None when neither the input is lines nor the task ctc (checkout stacks as usual).

    DataError (from ``ctc_codes``) for a text with a character outside the alphabet,
    naming the line, the character and the fix."""
    if task != "ctc" and (spec is None or not spec.variable_width):
        return None
    if spec is not None and spec.variable_width:
        images, widths = pad_widths(pixels, spec.fill)
    else:
        images, widths = (np.stack(pixels) if pixels else np.zeros((0, 0), np.uint8)), None
    if task != "ctc":
        return LineArrays(images, widths, None, tuple(classes))
    alphabet = ctc_alphabet(labels, classes, targets)
    return LineArrays(images, widths, ctc_codes(list(labels), alphabet), alphabet)
