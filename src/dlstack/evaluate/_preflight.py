"""Everything in ``[metric]`` and ``[tests]`` that the data can check, checked before
training: a run must not train, export and then fail on a name the config got wrong.

Known once the data version is checked out: its classes (``metric.positive``, per-class
names such as ``recall[9]``), the metric names the task will have, and the examples'
metadata keys (``[[tests.slices]] by``). Each error names the key to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dlstack.errors import ConfigError
from dlstack.evaluate._slices import CLASS_KEY, LENGTH_KEY
from dlstack.metrics import (
    classification_metrics,
    multilabel_metrics,
    regression_metrics,
    transcription_metrics,
)
from dlstack.objective import Constraint, Objective

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data import Snapshot

__all__ = ["check_before_training", "check_project_data", "known_metrics"]

# Measured on the package (dlstack test), so known to constraints and [tests] too.
MEASURED_PREFIXES = ("latency_p", "latency_mean")
MEASURED = ("size_mb",)


def known_metrics(classes: Sequence[str], task: str = "classification") -> set[str]:
    """Every metric name the task reports over ``classes`` (a regression's targets)."""
    c = len(classes)
    if task == "regression":
        y = np.arange(3 * c, dtype=np.float64).reshape(3, c)
        return set(regression_metrics(y, y).values(tuple(classes)))
    if task == "ctc":
        lines = ["".join(classes[:3]) or "0"] * 2
        return set(transcription_metrics(lines, lines).values(tuple(classes)))
    if task == "multilabel":
        y = np.eye(max(c, 2), c)
        return set(multilabel_metrics(y, y).values(tuple(classes)))
    targets = np.arange(max(c, 2)) % c
    probabilities = np.full((len(targets), c), 1.0 / c, dtype=np.float32)
    scores = classification_metrics(targets, targets, c, probabilities)
    return set(scores.values(tuple(classes)))


def check_before_training(
    project: Project, classes: Sequence[str], metadata_keys: Iterable[str] | None = None
) -> None:
    """ConfigError naming the key when the config cannot work with this data."""
    cfg = project.config
    task = cfg.project.task
    known = known_metrics(classes, task)

    def unknown(names: Iterable[str]) -> list[str]:
        return [
            n
            for n in names
            if n not in known and n not in MEASURED and not n.startswith(MEASURED_PREFIXES)
        ]

    def fail(key: str, names: list[str]) -> None:
        per_class = [n for n in names if "[" in n]
        what = "targets" if task == "regression" else "classes"
        hint = (
            f"; per-{what[:-1]} names take a {what[:-1]} in brackets, and the {what} are "
            f"{', '.join(classes[:12])}"
            if per_class
            else f"; known: {', '.join(sorted(k for k in known if '[' not in k))}"
        )
        raise ConfigError(
            f"{key} names {', '.join(map(repr, names))}, which this data's task will not "
            f"measure{hint}; fix {key} in dlstack.toml"
        )

    positive = cfg.metric.positive
    if positive is not None and task != "classification":
        raise ConfigError(
            f"metric.positive = {positive!r} chooses one class's operating threshold; a "
            f"{task} task has none to choose. Remove metric.positive from dlstack.toml"
        )
    if positive is not None and positive not in classes:
        raise ConfigError(
            f"metric.positive = {positive!r} is not one of the data's classes "
            f"({', '.join(classes[:12])}); fix metric.positive in dlstack.toml"
        )
    objective = Objective.from_config(cfg.metric)
    key = "metric.objective" if cfg.metric.objective else "metric.optimize"
    if bad := unknown(objective.metrics):
        fail(key, bad)
    for i, text in enumerate(cfg.metric.constraints):
        if bad := unknown(Constraint.parse(text).metrics):
            fail(f"metric.constraints[{i}]", bad)
    for section, names in (
        ("tests.min_metrics", cfg.tests.min_metrics),
        ("tests.max_metrics", cfg.tests.max_metrics),
    ):
        if bad := unknown(names):
            fail(section, bad)
    if metadata_keys is not None:
        builtin = {"regression": (), "ctc": (LENGTH_KEY,)}.get(task, (CLASS_KEY,))
        have = {*builtin, *metadata_keys}
        for i, s in enumerate(cfg.tests.slices):
            if s.by not in have:
                raise ConfigError(
                    f"tests.slices[{i}].by = {s.by!r} is not in the examples' metadata "
                    f"(available: {', '.join(sorted(have))}); fix it in dlstack.toml or add "
                    f"the column to the ingest manifest"
                )


def check_project_data(project: Project, snapshot: Snapshot) -> None:
    """:func:`check_before_training` with the snapshot's classes and its test examples'
    metadata keys (what the slices will be cut by)."""
    from dlstack.evaluate._slices import example_metadata

    try:
        keys: list[str] | None = list(example_metadata(project, snapshot.split("test").ids))
    except Exception:  # no catalog (arrays from elsewhere): slice keys are checked later
        keys = None
    check_before_training(project, snapshot.classes, keys)
