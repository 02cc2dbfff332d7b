"""Training with the practice's sensible defaults: Lightning, Adam 3e-4, He init, no
regularization, train-only normalization, checkpoints and resume, tracked in MLflow.

>>> from dlstack.train import fit, load_run  # doctest: +SKIP
>>> result = fit(project, snapshot)  # doctest: +SKIP
>>> same = load_run(project, result.run_id)  # doctest: +SKIP

Names resolve lazily: ``import dlstack.train`` does not import torch or Lightning until a
name that needs them is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack._lazy import lazy_attribute

if TYPE_CHECKING:
    from dlstack.train.callbacks import EpochLines, History
    from dlstack.train.datamodule import SnapshotDataModule
    from dlstack.train.module import DlstackModule
    from dlstack.train.result import Normalization, TrainResult
    from dlstack.train.runs import list_runs
    from dlstack.train.tasks import ClassificationTask, Task, get_task
    from dlstack.train.tracking import code_version, mlflow_ui_command
    from dlstack.train.training import fit, load_run

__all__ = [
    "ClassificationTask",
    "DlstackModule",
    "EpochLines",
    "History",
    "Normalization",
    "SnapshotDataModule",
    "Task",
    "TrainResult",
    "code_version",
    "fit",
    "get_task",
    "list_runs",
    "load_run",
    "mlflow_ui_command",
]

_HOME = {
    "ClassificationTask": "tasks",
    "DlstackModule": "module",
    "EpochLines": "callbacks",
    "History": "callbacks",
    "Normalization": "result",
    "SnapshotDataModule": "datamodule",
    "Task": "tasks",
    "TrainResult": "result",
    "code_version": "tracking",
    "fit": "training",
    "get_task": "tasks",
    "list_runs": "runs",
    "load_run": "training",
    "mlflow_ui_command": "tracking",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOME, name)


def __dir__() -> list[str]:
    return sorted(__all__)
