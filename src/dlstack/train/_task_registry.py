"""The tasks by name: what ``[project] task`` chooses."""

from __future__ import annotations

from dlstack.errors import ConfigError
from dlstack.train._ctc import CtcTask
from dlstack.train._multilabel import MultilabelTask
from dlstack.train._regression import RegressionTask
from dlstack.train._tasks import ClassificationTask, Task

__all__ = ["PLANNED", "TASKS", "get_task"]

TASKS: dict[str, type[Task]] = {
    "classification": ClassificationTask,
    "multilabel": MultilabelTask,
    "regression": RegressionTask,
    "ctc": CtcTask,
}
PLANNED: dict[str, str] = {}  # name -> what it will be, for a task not yet available


def get_task(name: str) -> Task:
    """The task registered under ``name`` (classification, multilabel, regression, ctc).

    >>> get_task("regression").monitor_mode
    'min'
    """
    if name in TASKS:
        return TASKS[name]()
    if name in PLANNED:
        raise ConfigError(
            f"project.task = {name!r} ({PLANNED[name]}) is planned but not yet available in "
            f"this dlstack; use one of {', '.join(repr(n) for n in TASKS)} for now"
        )
    raise ConfigError(
        f"project.task must be one of {', '.join(repr(n) for n in TASKS)}, got {name!r}"
    )
