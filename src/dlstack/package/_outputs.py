"""What a package's output means: ``model.json``'s ``output`` per task, written at export
and read back when a package answers (torch-free).

    classification   logits (N, C), softmax -> the most probable class
    multilabel       logits (N, C), sigmoid per class -> the classes at their thresholds
    regression       values (N, T) in the target's units -> the numbers by target name
    ctc              frame_logits (N, T, K+1), softmax per frame, blank 0 -> the text read

>>> output_spec("multilabel", "logits", ["cat", "dog"])["activation"]
'sigmoid'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dlstack.targets import sigmoid

__all__ = ["PACKAGED_TASKS", "output_scores", "output_spec"]

PACKAGED_TASKS = ("classification", "multilabel", "regression", "ctc")


def output_spec(
    task: str,
    name: str,
    labels: Sequence[str],
    *,
    scaling: dict[str, list[float]] | None = None,
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """model.json's ``output`` for a model of ``task`` with one output per label (ctc: per
    frame, the blank and one per character of the alphabet ``labels``)."""
    if task == "ctc":
        return {
            "name": name,
            "kind": "frame_logits",
            "shape": [-1, -1, len(labels) + 1],
            "blank": 0,
            "decoder": "greedy",
        }
    out: dict[str, Any] = {"name": name, "shape": [-1, len(labels)]}
    if task == "regression":
        return {**out, "kind": "values", **({"scaling": scaling} if scaling else {})}
    if task == "multilabel":
        cut = {"thresholds": [float(t) for t in thresholds]} if thresholds is not None else {}
        return {**out, "kind": "logits", "activation": "sigmoid", **cut}
    return {**out, "kind": "logits"}  # softmax, as every package before other tasks


def output_scores(output: Any, raw: np.ndarray) -> np.ndarray:
    """The graph's raw output (N, K) -> what answers are read from, float32: class
    probabilities (softmax, or sigmoid per class), a regression's numbers as they are, or
    a line reader's frame probabilities (N, T, K+1): softmax over each frame.

    >>> spec = {"kind": "logits", "activation": "sigmoid"}
    >>> output_scores(type("O", (), spec), np.array([[0.0]])).tolist()
    [[0.5]]
    """
    z = np.asarray(raw, dtype=np.float64)
    if output.kind == "values":
        return z.astype(np.float32)
    if output.activation == "sigmoid":
        return sigmoid(z)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
