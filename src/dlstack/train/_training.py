"""``fit``: train a project's model with the practice's defaults; ``load_run``: get it back.

Read top to bottom, ``fit`` is: fix the seeds, load the data (train-only normalization),
build the model, open the MLflow run, run Lightning's loop with checkpoints, write
run.json, and return the best checkpoint's model. ``load_run`` rebuilds the same
TrainResult from run.json and the best checkpoint, for stages that run later.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch import nn

from dlstack.config import Config, Project, with_overrides
from dlstack.data import Snapshot
from dlstack.errors import ConfigError, ModelError
from dlstack.inputs import describe_shape, example_shape, input_rows, map_input, take_rows
from dlstack.models import build_model, is_user_spec, user_model_source
from dlstack.train import _runs as runs
from dlstack.train._augment import BatchAugment
from dlstack.train._callbacks import History, StopOnNonFiniteLoss, make_progress_bar
from dlstack.train._datamodule import SnapshotDataModule
from dlstack.train._module import DlstackModule
from dlstack.train._regression import OutputScaling, RegressionTask
from dlstack.train._result import Normalization, TrainResult
from dlstack.train._runs import RunRecord
from dlstack.train._task_registry import get_task
from dlstack.train._tasks import Task
from dlstack.train._tracking import Tracker, code_version, flatten_config

__all__ = ["fit", "load_run"]

_log = logging.getLogger(__name__)

# Lightning's INFO lines ("GPU available: False", "`Trainer.fit` stopped") are noise here.
_QUIET_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")
# Advice that does not apply to in-memory tensors on a CPU, or to dlstack's own layout.
_IGNORED_WARNINGS = (
    r".*does not have many workers.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*smaller than the logging interval.*",
    r".*GPU available but not used.*",
    # Lightning 2.6 builds a torch LeafSpec, which torch 2.13 deprecates; not ours to fix.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)


def fit(
    project: Project,
    snapshot: Snapshot,
    *,
    resume: bool | str | None = None,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    overrides: Mapping[str, Any] | None = None,
    origin: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> TrainResult:
    """Train ``project``'s model on ``snapshot`` and return the best checkpoint's model.

    ``resume=True`` continues the latest run from its ``last.ckpt`` (same run id, same
    MLflow run), ``resume="RUN_ID"`` a given run; epochs already done are not repeated,
    and ``train.max_epochs`` is read from the project so a finished run can be extended.
    Everything else comes from the run's saved config.

    ``overrides`` (``{"train.lr": 1e-3}``) replace dlstack.toml's values for this run and are
    recorded in run.json and MLflow; ``origin`` says where the run came from (a tuning
    trial); ``tags`` go onto its MLflow run (``mlflow.parentRunId`` nests it under a
    study's run); ``callbacks`` join Lightning's (a trial's pruning callback).

    >>> import tempfile
    >>> from dlstack.config import Config, Project
    >>> config = Config.model_validate({"train": {"max_epochs": 2}})
    >>> project = Project(Path(tempfile.mkdtemp()), config)
    >>> result = fit(project, Snapshot.from_builtin("digits8"), progress=False)
    >>> [row["epoch"] for row in result.history], result.architecture
    ([1, 2], 'lenet')
    """
    task = get_task(project.config.project.task)
    if snapshot.task != task.name:
        raise ConfigError(
            f"project.task is {task.name!r} but data version {snapshot.version[:12]} holds "
            f"{snapshot.task} targets; set [project] task = {snapshot.task!r}, or ingest "
            f"data for the {task.name} task"
        )
    previous: RunRecord | None = None
    checkpoint_path: Path | None = None
    if resume:
        run_dir, previous, checkpoint_path = _resumable(project, resume, snapshot)
        config = _resumed_config(previous, project.config)
    else:
        config = with_overrides(project.config, overrides or {})
        run_dir = project.runs_dir / runs.new_run_id()

    if snapshot.is_table and config.train.augment is not None:
        raise ConfigError(
            "train.augment shifts and thickens images; this project's data is a table. "
            "Remove train.augment from dlstack.toml"
        )
    with _quiet_training():
        L.seed_everything(config.train.seed, workers=True, verbose=False)
        data = SnapshotDataModule(
            snapshot.with_train_subset(config.data.subset, config.data.seed),
            task,
            batch_size=config.train.batch_size,
            num_workers=config.train.num_workers,
            seed=config.train.seed,
            augment=_augment(config),
        )
        data.setup("fit")  # normalization from the train split only
        num_classes = len(snapshot.classes)
        model, architecture = build_model(
            config.model.architecture,
            data.input_shape,
            num_classes,
            dropout=config.train.dropout,
            width=config.model.width,
            search_path=project.root,
        )
        _check_model(task, model, data, num_classes, config.model.architecture)

        if previous is None:
            record, tracker = _start_run(
                project,
                config,
                task,
                run_dir,
                architecture,
                model,
                data,
                _run_tags(overrides, tags),
            )
            record.overrides = dict(overrides or {})
            record.origin = dict(origin) if origin else None
            runs.write_run(run_dir, record)
        else:
            record, tracker = _reopen_run(project, config, run_dir, previous)
        history = History(listeners=[tracker.log_epoch])
        # [metric] beyond plain accuracy: the best checkpoint is the objective's best.
        objective = _objective_monitor(config, data)
        checkpoints = _checkpoint_callback(
            task, run_dir, has_val="val" in data.datasets, objective=objective is not None
        )
        trainer = L.Trainer(
            max_epochs=config.train.max_epochs,
            accelerator="auto",
            devices=1,
            logger=False,  # tracking is the History listener's job: one MLflow write per epoch
            callbacks=[
                *([objective] if objective is not None else []),  # logs before History reads
                history,
                StopOnNonFiniteLoss(config.train.lr),
                checkpoints,
                *([make_progress_bar()] if progress else []),
                *callbacks,
            ],
            enable_progress_bar=progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=run_dir,
        )
        module = DlstackModule(
            model,
            task,
            num_classes,
            optimizer=config.train.optimizer,
            lr=config.train.lr,
            weight_decay=config.train.weight_decay,
            lr_schedule=config.train.lr_schedule,
        )
        started, started_cpu = time.perf_counter(), time.process_time()
        try:
            trainer.fit(module, datamodule=data, ckpt_path=checkpoint_path)
        except BaseException as e:
            # Lightning turns Ctrl+C into SystemExit after a graceful stop; both are "killed".
            killed = isinstance(e, (KeyboardInterrupt, SystemExit))
            record.status = "interrupted" if killed else "failed"
            record.failure = None if killed else f"{type(e).__name__}: {e}"
            record.history = history.rows
            record.epochs_completed = len(history.rows)
            runs.write_run(run_dir, record)
            tracker.finish("KILLED" if killed else "FAILED")
            raise
        record.train_seconds += time.perf_counter() - started
        # CPU time of this process: a steadier yardstick than wall time on a busy machine.
        record.train_cpu_seconds = (
            (record.train_cpu_seconds or 0.0) + time.process_time() - started_cpu
        )
        _finish_run(run_dir, record, tracker, history, checkpoints)
    return _result(project, run_dir, record)


def load_run(project: Project, run_id: str | None = None) -> TrainResult:
    """Rebuild a run's TrainResult: ``run_id``'s, or the latest run that has a checkpoint."""
    if run_id is None:
        run_dir = runs.find_trained_run(project.runs_dir)
    else:
        run_dir = runs.find_run(project.runs_dir, run_id)
    return _result(project, run_dir, runs.read_run(run_dir))


# -- building blocks ----------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_training() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in _IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _check_model(
    task: Task, model: nn.Module, data: SnapshotDataModule, num_classes: int, spec: str
) -> None:
    """Run two examples through the model now, so a wrong model fails before training."""
    x = take_rows(data.datasets["train"].inputs, slice(0, 2))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(x)
    except Exception as e:
        takes = (
            "one dict argument {name: float32 (N, *shape)}"
            if isinstance(x, dict)
            else "float32 input (N, *input_shape)"
        )
        raise ModelError(
            f"architecture {spec!r}: the model failed on a batch of shape {describe_shape(x)} "
            f"({type(e).__name__}: {e}); it must accept {takes} with "
            f"input_shape={example_shape(x)}"
        ) from e
    finally:
        model.train(was_training)
    task.check_outputs(outputs, input_rows(x), num_classes)


def _start_run(
    project: Project,
    config: Config,
    task: Task,
    run_dir: Path,
    architecture: str,
    model: nn.Module,
    data: SnapshotDataModule,
    tags: dict[str, str],
) -> tuple[RunRecord, Tracker]:
    """Create the run directory, its run.json and its MLflow run."""
    assert data.normalization is not None
    source = user_model_source(architecture, project.root) if is_user_spec(architecture) else None
    record = RunRecord(
        run_id=run_dir.name,
        status="running",
        created=_now(),
        started_at=time.time(),  # orders runs started within the same second
        task=task.name,
        architecture=architecture,
        input_shape=map_input(list, data.input_shape),
        classes=list(data.snapshot.classes),
        normalization=data.normalization.to_dict(),
        image=None if data.snapshot.is_table else data.snapshot.image_spec.to_dict(),
        table_encoder=data.normalization.table,
        target_scaling=task.scaling if isinstance(task, RegressionTask) else None,
        data_version=data.snapshot.version,
        code_version=code_version(project.root, source[1] if source else None),
        model_source={"path": source[0], "sha256": source[1]} if source else None,
        num_params=sum(p.numel() for p in model.parameters()),
        split_sizes={k: len(v) for k, v in data.datasets.items()},
        config=config.model_dump(mode="json"),
    )
    run_dir.mkdir(parents=True, exist_ok=False)
    tracker = Tracker.start(
        project, run_name=run_dir.name, params=_params(record), tags={**_tags(record), **tags}
    )
    record.mlflow = {"experiment_id": tracker.experiment_id, "run_id": tracker.run_id}
    runs.write_run(run_dir, record)
    return record, tracker


def _reopen_run(
    project: Project, config: Config, run_dir: Path, record: RunRecord
) -> tuple[RunRecord, Tracker]:
    """Mark a run running again, in the same MLflow run when the tracking DB still has it."""
    record.status = "running"
    record.config = config.model_dump(mode="json")
    mlflow_run = (record.mlflow or {}).get("run_id")
    tracker = Tracker.reopen(project, mlflow_run) if mlflow_run else None
    if tracker is None:  # the tracking DB was deleted: keep going in a fresh MLflow run
        _log.warning("MLflow run %s not found; logging the resumed run to a new one", mlflow_run)
        tracker = Tracker.start(
            project, run_name=record.run_id, params=_params(record), tags=_tags(record)
        )
        record.mlflow = {"experiment_id": tracker.experiment_id, "run_id": tracker.run_id}
    # Params are immutable in MLflow; what changed on resume goes into tags.
    tracker.set_tags(
        {
            "dlstack.resumed_from_epoch": str(record.epochs_completed),
            "dlstack.max_epochs": str(config.train.max_epochs),
        }
    )
    runs.write_run(run_dir, record)
    return record, tracker


def _run_tags(
    overrides: Mapping[str, Any] | None, tags: Mapping[str, str] | None
) -> dict[str, str]:
    """The caller's MLflow tags, and ``dlstack.overrides`` (JSON) when keys were set."""
    import json

    out = dict(tags or {})
    if overrides:
        out["dlstack.overrides"] = json.dumps(dict(overrides), sort_keys=True)
    return out


def _augment(config: Config) -> BatchAugment | None:
    aug = config.train.augment
    if aug is None:
        return None
    return BatchAugment(max_shift=aug.max_shift, thicken=aug.thicken, seed=config.train.seed)


def _objective_monitor(config: Config, data: SnapshotDataModule) -> Any:
    """dlstack.evaluate's ObjectiveMonitor when [metric] is more than val accuracy."""
    if "val" not in data.datasets:
        return None
    from dlstack.objective import Objective
    from dlstack.train._checkpoint import ObjectiveMonitor, uses_objective

    if not uses_objective(config.metric):
        return None
    val = data.datasets["val"]
    return ObjectiveMonitor(
        Objective.from_config(config.metric),
        val.inputs,
        data.snapshot.split("val").y,  # stored targets: a regression's in its own units
        data.snapshot.classes,
        task=data.task,
    )


def _checkpoint_callback(
    task: Task, run_dir: Path, *, has_val: bool, objective: bool = False
) -> ModelCheckpoint:
    """best.ckpt by the task's monitor, and last.ckpt (to resume from) after every epoch."""
    return ModelCheckpoint(
        dirpath=run_dir / runs.CHECKPOINTS,
        filename=Path(runs.BEST_CHECKPOINT).stem,
        # Without a val split, the best checkpoint is the one with the lowest train loss.
        # With an objective (ObjectiveMonitor logs it), the best checkpoint is the objective's.
        monitor=("val_objective" if objective else task.monitor) if has_val else "train_loss",
        mode=("max" if objective else task.monitor_mode) if has_val else "min",
        save_top_k=1,
        save_last=True,
        # At epoch end, after History has its row: the checkpoint carries the history.
        save_on_train_epoch_end=True,
        enable_version_counter=False,  # overwrite best.ckpt, no best-v1.ckpt
        auto_insert_metric_name=False,
    )


def _finish_run(
    run_dir: Path,
    record: RunRecord,
    tracker: Tracker,
    history: History,
    checkpoints: ModelCheckpoint,
) -> None:
    best = Path(checkpoints.best_model_path or run_dir / runs.CHECKPOINTS / runs.BEST_CHECKPOINT)
    score = checkpoints.best_model_score
    record.status = "finished"
    record.finished = _now()
    record.history = history.rows
    record.epochs_completed = len(history.rows)
    record.best_checkpoint = str(best.relative_to(run_dir))
    record.best_score = float(score) if score is not None else None
    record.monitor = checkpoints.monitor
    run_json = runs.write_run(run_dir, record)
    if score is not None:
        tracker.log_metrics({f"best_{checkpoints.monitor}": float(score)}, step=len(history.rows))
    tracker.log_artifact(run_json)
    tracker.finish("FINISHED")


def _params(record: RunRecord) -> dict[str, str]:
    params = flatten_config(Config.model_validate(record.config))
    norm = record.normalization
    params.update(
        {
            "data_version": record.data_version,
            "code_version": record.code_version,
            "architecture": record.architecture,
            "normalization.mean": ",".join(f"{m:.6g}" for m in norm["mean"]),
            "normalization.std": ",".join(f"{s:.6g}" for s in norm["std"]),
            "input_shape": _shape_param(record.input_shape),
            "num_classes": str(len(record.classes)),
            "num_params": str(record.num_params),
        }
    )
    params.update({f"split_size.{k}": str(v) for k, v in record.split_sizes.items()})
    return params


def _shape_param(shape: list[int] | dict[str, list[int]]) -> str:
    """``1x28x28``, or ``image=1x28x28,features=3`` for several inputs."""
    if isinstance(shape, dict):
        return ",".join(f"{name}={'x'.join(map(str, s))}" for name, s in shape.items())
    return "x".join(str(d) for d in shape)


def _tags(record: RunRecord) -> dict[str, str]:
    from importlib.metadata import version

    return {
        "dlstack.run_id": record.run_id,
        "dlstack.task": record.task,
        "dlstack.data_version": record.data_version,
        "dlstack.code_version": record.code_version,
        "dlstack.architecture": record.architecture,
        "dlstack.version": version("dlstack"),
    }


def _resumable(
    project: Project, resume: bool | str, snapshot: Snapshot
) -> tuple[Path, RunRecord, Path]:
    run_dir = runs.find_run(project.runs_dir, None if resume is True else str(resume))
    record = runs.read_run(run_dir)
    last = run_dir / runs.CHECKPOINTS / runs.LAST_CHECKPOINT
    if not last.is_file():
        raise ModelError(
            f"run {run_dir.name} has no {runs.LAST_CHECKPOINT} to resume from (it stopped "
            f"before finishing its first epoch); start a new run with `dlstack train`"
        )
    _check_readable(last, run_dir.name)
    if record.data_version != snapshot.version:
        raise ModelError(
            f"run {run_dir.name} was trained on data version {record.data_version}, got "
            f"{snapshot.version}; check out {record.data_version} to resume it, or start "
            f"a new run without --resume"
        )
    return run_dir, record, last


def _check_readable(checkpoint: Path, run_id: str) -> None:
    """ModelError, not a traceback from deep inside Lightning, for a damaged checkpoint
    (a truncated copy, a full disk): resuming from it cannot work."""
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        readable = isinstance(state, dict) and "state_dict" in state
    except Exception as e:
        readable, why = False, f"{type(e).__name__}: {e}"
    else:
        why = "it holds no state_dict"
    if not readable:
        raise ModelError(
            f"cannot resume run {run_id}: {checkpoint} is damaged ({why}); start a new run "
            f"with `dlstack train` (the run's best checkpoint, if it has one, is untouched)"
        )


def _resumed_config(record: RunRecord, current: Config) -> Config:
    saved = Config.model_validate(record.config)
    train = saved.train.model_copy(update={"max_epochs": current.train.max_epochs})
    return saved.model_copy(update={"train": train})


def _result(project: Project, run_dir: Path, record: RunRecord) -> TrainResult:
    config = Config.model_validate(record.config)
    best = run_dir / record.best_checkpoint_path
    if not best.is_file():
        raise ModelError(
            f"run {run_dir.name} has no best checkpoint at {best} (status: "
            f"{record.status}); resume it with `dlstack train --resume "
            f"{run_dir.name}` or train a new one"
        )
    model, _ = build_model(
        record.architecture,
        record.input_shape,
        len(record.classes),
        dropout=config.train.dropout,
        width=config.model.width,
        search_path=project.root,
    )
    model.load_state_dict(_model_state(best))
    scaling = record.target_scaling
    if scaling is not None:  # trained on standardized targets: answer in the target's units
        model = OutputScaling(model, scaling["mean"], scaling["std"])
    model.eval()
    return TrainResult(
        run_id=record.run_id,
        run_dir=run_dir,
        model=model,
        task=record.task,
        architecture=record.architecture,
        normalization=Normalization(
            tuple(record.normalization["mean"]),
            tuple(record.normalization["std"]),
            record.table_encoder,
        ),
        input_shape=map_input(tuple, record.input_shape),
        classes=tuple(record.classes),
        data_version=record.data_version,
        code_version=record.code_version,
        config=config,
        best_checkpoint=best,
        history=[dict(row) for row in record.history],
        mlflow_run_id=(record.mlflow or {}).get("run_id"),
        train_seconds=float(record.train_seconds),
        image=record.image,
        target_scaling=scaling,
        extra={
            k: getattr(record, k)
            for k in (
                "monitor",
                "best_score",
                "epochs_completed",
                "num_params",
                "status",
                "split_sizes",
                "train_cpu_seconds",
            )
        },
    )


def _model_state(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The wrapped model's weights from a Lightning checkpoint (keys without ``model.``)."""
    try:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelError(f"cannot read checkpoint {checkpoint}: {e}; train a new run") from e
    prefix = "model."
    return {
        k.removeprefix(prefix): v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
