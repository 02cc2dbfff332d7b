"""What a project learns to predict: one class, a set of classes, numbers, or a line's text.

The target of an example is stored as one text label in the catalog (so versions, diff
and lineage treat a changed value as a change, as they do for a class name), in a
canonical form per task:

    classification   the class name                          ``7``
    multilabel       a JSON list of class names, sorted      ``["cat","dog"]`` (``[]``: none)
    regression       a JSON list of numbers, in target order ``[151.0]``, ``[1.5,-2.0]``
    ctc              the text of the line                     ``12/05/2024``

:class:`TargetSpec` reads a manifest row's target column(s) into that form (``[data]
target``, ``separator``, ``classes``) and says what is wrong with a value that does not
fit, naming the row, the value, what is allowed and the fix. :func:`target_matrix` turns
stored labels into the float array a model learns from, and :func:`decide` turns a
model's outputs back into answers (torch-free: serving uses it).

>>> spec = TargetSpec("multilabel", ("tags",))
>>> spec.read({"tags": "dog|cat"}, "t.csv:2")
'["cat","dog"]'
>>> TargetSpec("regression", ("y",)).read({"y": "151"}, "t.csv:2")
'[151.0]'
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlstack.errors import DataError
from dlstack.targets._answer import Answer
from dlstack.targets._ctc import decide_ctc

__all__ = [
    "DEFAULT_SEPARATOR",
    "DEFAULT_THRESHOLD",
    "FLOAT_TARGETS",
    "TASKS",
    "TargetSpec",
    "canonical_multilabel",
    "canonical_regression",
    "decide",
    "feedback_label",
    "multilabel_names",
    "regression_values",
    "sigmoid",
    "target_matrix",
]

TASKS = ("classification", "multilabel", "regression", "ctc")
DEFAULT_SEPARATOR = "|"  # between the labels of one example: "cat|dog"
DEFAULT_THRESHOLD = 0.5  # a label is given when its probability reaches this
# Per-task shape of the stored target: the tasks whose targets are a float array.
FLOAT_TARGETS = ("multilabel", "regression")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Each class's probability from its logit, float32, without overflow for any logit.

    >>> sigmoid(np.array([[0.0, -1000.0, 1000.0]])).tolist()
    [[0.5, 0.0, 1.0]]
    """
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


def canonical_regression(values: Iterable[float]) -> str:
    """``[151.0]``: the stored form of one example's numbers (the same value is always the
    same text, so "151" and "151.0" are not a change)."""
    return json.dumps([float(v) for v in values], separators=(",", ":"))


def regression_values(label: str) -> list[float]:
    """The numbers of a stored regression label."""
    return [float(v) for v in json.loads(label)]


def canonical_multilabel(names: Iterable[str]) -> str:
    """``["cat","dog"]``: one example's labels, sorted, each once."""
    return json.dumps(sorted(set(names)), separators=(",", ":"), ensure_ascii=False)


def multilabel_names(label: str) -> list[str]:
    """The class names of a stored multilabel label."""
    return [str(v) for v in json.loads(label)]


@dataclass(frozen=True)
class TargetSpec:
    """How a manifest row's target is read: the task, its column(s), the separator of a
    multilabel column and the declared classes (empty: whatever the data holds)."""

    task: str = "classification"
    columns: tuple[str, ...] = ("label",)
    separator: str = DEFAULT_SEPARATOR
    classes: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Any) -> TargetSpec:
        """From a ``dlstack.config.Config`` (``[project] task``, ``[data] target``...)."""
        data = config.data
        target = data.target
        columns = (target,) if isinstance(target, str) else tuple(target)
        return cls(config.project.task, columns, data.separator, tuple(data.classes))

    @property
    def column(self) -> str:
        return self.columns[0]

    def read(self, row: dict[str, Any], where: str) -> str | None:
        """Pop the target column(s) from ``row``; the stored label, or None when the row
        has no target (unlabeled: an empty cell; for multilabel a missing value, since an
        empty cell there means "none of the classes"). DataError for a value the task cannot
        take (a NaN, a word in a regression column, an undeclared class)."""
        raw = [row.pop(c, None) for c in self.columns]
        if self.task == "regression":
            return self._numbers(raw, where)
        value = raw[0]
        if self.task == "multilabel" and value is not None:
            return self._label_set(value, where)  # an empty cell: none of the classes
        if _empty(value):
            return None
        text = str(value).strip()
        if self.task == "ctc" and self.classes:
            outside = sorted({ch for ch in text if ch not in self.classes})
            if outside:
                raise DataError(
                    f"{where}: target {text!r} of column {self.column!r} has characters "
                    f"{', '.join(map(repr, outside))} outside the declared alphabet "
                    f"{''.join(self.classes)!r}; fix the value or add them to [data] classes"
                )
        return text

    def _numbers(self, raw: list[Any], where: str) -> str | None:
        if all(_empty(v) for v in raw):
            return None
        numbers = []
        for column, value in zip(self.columns, raw, strict=True):
            number = _number(value)
            if number is None or not math.isfinite(number):
                what = "empty" if _empty(value) else f"{str(value)[:40]!r}"
                raise DataError(
                    f"{where}: regression target column {column!r} is {what}; every target "
                    f"must be a finite number (no NaN, no text, no empty cell beside a "
                    f"filled one). Fix the value, drop the row, or declare [project] "
                    f'task = "classification" if the column holds classes'
                )
            numbers.append(number)
        return canonical_regression(numbers)

    def _label_set(self, value: Any, where: str) -> str:
        names = _label_list(value, self.separator, where, self.column)
        if self.classes:
            unknown = [n for n in names if n not in self.classes]
            if unknown:
                raise DataError(
                    f"{where}: label(s) {', '.join(map(repr, unknown))} of column "
                    f"{self.column!r} are not declared classes ({', '.join(self.classes)}); "
                    f"fix the value or add them to [data] classes"
                )
        return canonical_multilabel(names)

    def classes_of(self, labels: Iterable[str | None]) -> list[str]:
        """The output names the stored ``labels`` imply: the declared classes, else the
        classes seen (sorted); a regression's target columns."""
        if self.task == "regression":
            return list(self.columns)
        if self.classes:
            return list(self.classes)
        seen: set[str] = set()
        for label in labels:
            if label is None:
                continue
            if self.task == "multilabel":
                seen.update(multilabel_names(label))
            elif self.task == "ctc":
                seen.update(label)
            else:
                seen.add(label)
        return sorted(seen)


def target_matrix(task: str, labels: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """Stored labels -> float32 (N, K): a multilabel's 0/1 per class of ``names``, a
    regression's numbers in target order. DataError for a label that does not fit."""
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(labels), len(names)), dtype=np.float32)
    for row, label in enumerate(labels):
        if task == "multilabel":
            for name in multilabel_names(label):
                if name not in index:
                    raise DataError(
                        f"stored label {label!r} names {name!r}, which is not a class of "
                        f"this data version ({', '.join(names)})"
                    )
                out[row, index[name]] = 1.0
        else:
            values = regression_values(label)
            if len(values) != len(names):
                raise DataError(
                    f"stored regression target {label!r} has {len(values)} value(s), the "
                    f"data version has {len(names)} target(s) ({', '.join(names)})"
                )
            out[row] = values
    return out


def decide(
    task: str,
    scores: np.ndarray,
    names: Sequence[str],
    thresholds: Sequence[float] | None = None,
) -> list[Answer]:
    """Scores (N, K) -> one Answer per row: ``scores`` are class probabilities (softmax
    for classification, sigmoid per class for multilabel) or a regression's values; for
    ctc, frame probabilities (N, T, K+1) decoded greedily (``decide_ctc`` for beam search).

    >>> [a.label for a in decide("multilabel", np.array([[0.9, 0.2]]), ["cat", "dog"])]
    ['["cat"]']
    """
    names = [str(n) for n in names]
    if task == "ctc":
        return decide_ctc(scores, names)
    s = np.asarray(scores, dtype=np.float64)
    answers = []
    if task == "multilabel":
        cut = (
            np.full(len(names), DEFAULT_THRESHOLD)
            if thresholds is None
            else np.asarray(thresholds, dtype=np.float64)
        )
        for row in s:
            given = tuple(n for n, p, t in zip(names, row, cut, strict=True) if p >= t)
            sure = float(np.min(np.where(row >= cut, row, 1.0 - row))) if len(row) else 1.0
            answers.append(
                Answer(
                    task,
                    canonical_multilabel(given),
                    sure,
                    {n: float(p) for n, p in zip(names, row, strict=True)},
                    given,
                    {n: float(t) for n, t in zip(names, cut, strict=True)},
                )
            )
        return answers
    if task == "regression":
        for row in np.asarray(scores, dtype=np.float32):
            # The decimal each float32 stands for (151.2, not 151.1999969482422).
            values = [float(str(v)) for v in row]
            answers.append(
                Answer(
                    task,
                    canonical_regression(values),
                    math.nan,
                    dict(zip(names, values, strict=True)),
                )
            )
        return answers
    for row in s:
        top = int(np.argmax(row))
        answers.append(
            Answer(
                task,
                names[top],
                float(row[top]),
                {n: float(p) for n, p in zip(names, row, strict=True)},
            )
        )
    return answers


def feedback_label(task: str, text: str, names: Sequence[str], separator: str = "|") -> str:
    """A person's correction (``/feedback``'s label) in the stored form; DataError naming
    what is allowed. Classification: one of ``names``; multilabel: classes separated by
    ``separator`` or a JSON list; regression: a number per target (JSON list for several);
    ctc: the line's text, characters from ``names`` (the alphabet).
    """
    where = "the feedback label"
    if task == "regression":
        spec = TargetSpec("regression", tuple(names))
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        values = parsed if isinstance(parsed, list) else [parsed]
        if len(values) != len(names):
            raise DataError(
                f"{where} {text!r} gives {len(values)} value(s); the model predicts "
                f"{len(names)} ({', '.join(names)}): send a number, or a JSON list of them"
            )
        row = dict(zip(names, values, strict=True))
        label = spec.read(row, where)
        if label is None:
            raise DataError(f"{where} is empty; send the right number(s)")
        return label
    if task == "multilabel":
        return TargetSpec("multilabel", ("label",), separator, tuple(names)).read(
            {"label": text}, where
        ) or canonical_multilabel([])
    if task == "ctc":
        label = TargetSpec("ctc", ("label",), classes=tuple(names)).read({"label": text}, where)
        return label or ""  # an empty line is a valid correction: nothing written
    if text not in names:
        raise DataError(f"{where} {text!r} is not one of the model's labels: {', '.join(names)}")
    return text


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _number(value: Any) -> float | None:
    if _empty(value) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _label_list(value: Any, separator: str, where: str, column: str) -> list[str]:
    """A multilabel cell: a list (JSONL/Parquet), a JSON list in text, or names separated
    by ``separator``."""
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise DataError(
                    f"{where}: column {column!r} = {text[:40]!r} starts like a JSON list but "
                    f"is not one; write labels separated by {separator!r} or a JSON list "
                    f'such as ["cat", "dog"]'
                ) from None
        else:
            items = text.split(separator)
    if isinstance(items, Mapping) or not isinstance(items, (list, tuple)):
        raise DataError(
            f"{where}: column {column!r} = {str(value)[:40]!r} is not a set of labels; write "
            f"labels separated by {separator!r} or a JSON list"
        )
    names = [str(n).strip() for n in items if not _empty(n)]
    return names
