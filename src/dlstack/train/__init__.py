"""Training with the practice's sensible defaults: Lightning, Adam 3e-4, He init, no
regularization, train-only normalization, checkpoints and resume, tracked in MLflow.

One training core: the optimizer registry (:func:`make_optimizer`,
:func:`resolve_optimizer`), the plain-PyTorch loop the doctor and `dlstack scope` run
(:func:`train_loop`), and the Lightning fit (:func:`fit`) with the objective as its
checkpoint monitor (:class:`ObjectiveMonitor`). Each run's ``run.json`` is a
:class:`RunRecord` (:func:`read_run`, :func:`list_runs`; no torch needed to read one).
MLflow is the system of record: the fit tracks params and epochs, :func:`record_run` adds
the test metrics, the stages' reports and the registered model package.

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
    from dlstack.train._callbacks import EpochLines, History
    from dlstack.train._checkpoint import MONITOR, ObjectiveMonitor, uses_objective
    from dlstack.train._ctc import CtcTask
    from dlstack.train._datamodule import SnapshotDataModule
    from dlstack.train._loop import (
        EpochEnd,
        LoopResult,
        Rows,
        TensorRows,
        device_of,
        forward,
        train_loop,
    )
    from dlstack.train._module import DlstackModule
    from dlstack.train._multilabel import MultilabelTask
    from dlstack.train._optim import OptimSpec, make_optimizer, resolve_optimizer
    from dlstack.train._record import GATE_VERDICTS, RecordedModel, alias_for, record_run
    from dlstack.train._regression import OutputScaling, RegressionTask
    from dlstack.train._result import Normalization, TrainResult
    from dlstack.train._runs import RunRecord, list_runs, read_run
    from dlstack.train._task_registry import TASKS, get_task
    from dlstack.train._tasks import ClassificationTask, Task
    from dlstack.train._tracking import (
        Tracker,
        code_version,
        experiment_url,
        mlflow_ui_command,
        quiet_mlflow,
    )
    from dlstack.train._training import fit, load_run

__all__ = [
    "GATE_VERDICTS",
    "MONITOR",
    "TASKS",
    "ClassificationTask",
    "CtcTask",
    "DlstackModule",
    "EpochEnd",
    "EpochLines",
    "History",
    "LoopResult",
    "MultilabelTask",
    "Normalization",
    "ObjectiveMonitor",
    "OptimSpec",
    "OutputScaling",
    "RecordedModel",
    "RegressionTask",
    "Rows",
    "RunRecord",
    "SnapshotDataModule",
    "Task",
    "TensorRows",
    "Tracker",
    "TrainResult",
    "alias_for",
    "code_version",
    "device_of",
    "experiment_url",
    "fit",
    "forward",
    "get_task",
    "list_runs",
    "load_run",
    "make_optimizer",
    "mlflow_ui_command",
    "quiet_mlflow",
    "read_run",
    "record_run",
    "resolve_optimizer",
    "train_loop",
    "uses_objective",
]

_HOME = {
    "EpochEnd": "_loop",
    "LoopResult": "_loop",
    "Rows": "_loop",
    "TensorRows": "_loop",
    "device_of": "_loop",
    "forward": "_loop",
    "train_loop": "_loop",
    "OptimSpec": "_optim",
    "make_optimizer": "_optim",
    "resolve_optimizer": "_optim",
    "MONITOR": "_checkpoint",
    "ObjectiveMonitor": "_checkpoint",
    "uses_objective": "_checkpoint",
    "ClassificationTask": "_tasks",
    "DlstackModule": "_module",
    "EpochLines": "_callbacks",
    "History": "_callbacks",
    "Normalization": "_result",
    "SnapshotDataModule": "_datamodule",
    "Task": "_tasks",
    "TrainResult": "_result",
    "code_version": "_tracking",
    "fit": "_training",
    "get_task": "_task_registry",
    "TASKS": "_task_registry",
    "MultilabelTask": "_multilabel",
    "CtcTask": "_ctc",
    "RegressionTask": "_regression",
    "OutputScaling": "_regression",
    "list_runs": "_runs",
    "read_run": "_runs",
    "RunRecord": "_runs",
    "load_run": "_training",
    "mlflow_ui_command": "_tracking",
    "experiment_url": "_tracking",
    "Tracker": "_tracking",
    "quiet_mlflow": "_tracking",
    "GATE_VERDICTS": "_record",
    "RecordedModel": "_record",
    "alias_for": "_record",
    "record_run": "_record",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOME, name)


def __dir__() -> list[str]:
    return sorted(__all__)
