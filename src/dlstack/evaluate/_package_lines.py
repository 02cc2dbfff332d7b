"""`dlstack test` on a line reader (ctc): each stored line is cut to its own width and
read by the package the way serving reads it (``ModelPackage.read_lines``: run at its
own width rounded to 8 px, never padded to a neighbour's), so what is tested is what a
client gets. A line reader's answers are its texts: the checks compare strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dlstack.errors import DataError
from dlstack.metrics import transcription_metrics
from dlstack.targets import ctc_text

if TYPE_CHECKING:
    from dlstack.evaluate._eval_data import EvalData
    from dlstack.package import ModelPackage

__all__ = [
    "check_line_data",
    "line_metrics",
    "read_texts",
    "single_line_inputs",
    "truth_texts",
]


def check_line_data(package: ModelPackage, data: EvalData) -> None:
    """DataError unless ``data`` are lines in the package's alphabet."""
    if data.task != "ctc" or data.widths is None or data.targets is None:
        raise DataError(
            f"package {package.spec.name} reads lines (task ctc); the data's task is "
            f"{data.task}: test it on the data it was trained for"
        )
    if list(data.classes) != list(package.labels):
        raise DataError(
            f"the package's alphabet {''.join(package.labels)!r} is not the data's "
            f"{''.join(data.classes)!r}; test it on the data it was trained for"
        )


def truth_texts(data: EvalData) -> np.ndarray:
    """The true text of every line, an object array of str (n,)."""
    assert data.targets is not None
    return np.array([ctc_text(row, data.classes) for row in data.targets], dtype=object)


def read_texts(package: ModelPackage, lines: Sequence[np.ndarray]) -> np.ndarray:
    """What the package reads in each line, an object array of str (n,)."""
    return np.array([a.label for a in package.read_lines(lines)], dtype=object)


def line_metrics(
    package: ModelPackage, data: EvalData
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """(cer, wer, line_accuracy and cer per length bucket; the true texts; the texts read)."""
    check_line_data(package, data)
    truth, read = truth_texts(data), read_texts(package, data.lines())
    return transcription_metrics(list(truth), list(read)).values(), truth, read


def single_line_inputs(package: ModelPackage, data: EvalData, n: int) -> list[np.ndarray]:
    """The first ``n`` lines as single-line model inputs (1, C, H, run width), as a
    client's one-line request is run."""
    return [package.line_inputs([line])[0][1] for line in data.lines()[:n]]
