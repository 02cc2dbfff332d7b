"""``fit``: train a project's model with the practice's defaults; ``load_run``: get it back.

Read top to bottom, ``fit`` is: fix the seeds, load the data (train-only normalization),
build the model, open the MLflow run, run Lightning's loop with checkpoints, write
run.json, and return the best checkpoint's model. ``load_run`` rebuilds the same
TrainResult from run.json and the best checkpoint, for stages that run later.

With ``[train] devices`` > 1 (or under torchrun/srun) the loop runs in several processes
with DistributedDataParallel; the processes and who writes what are described at
``_Processes`` below.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar
from lightning.pytorch.strategies import DDPStrategy
from torch import nn

import dlstack.errors
from dlstack.config import Config, Project, TrainConfig, with_overrides
from dlstack.data import Snapshot
from dlstack.errors import ConfigError, DlstackError, ModelError
from dlstack.inputs import describe_shape, example_shape, input_rows, map_input, take_rows
from dlstack.models import build_model, is_user_spec, user_model_source
from dlstack.train import _runs as runs
from dlstack.train._augment import BatchAugment
from dlstack.train._callbacks import EpochLines, History, StopOnNonFiniteLoss, make_progress_bar
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
    # DDP: ObjectiveMonitor scores the whole val split in every process with the same
    # (synchronized) weights, so its val_objective is the same everywhere unsynced.
    r".*when logging on epoch level in distributed setting.*",
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

    Several processes (``[train] devices`` > 1, or started by torchrun/srun): DDP, the
    data split between the processes (Lightning's DistributedSampler), gradients and the
    epoch metrics averaged over all of them. ``batch_size`` is per process, as in
    Lightning, so one optimizer step sees ``batch_size x processes`` examples (the global
    batch, recorded in run.json's ``processes`` and printed at the start): 2 processes at
    32 train like 1 at 64. Only global rank 0 writes (run directory, run.json,
    checkpoints, MLflow); the TrainResult is returned in the process that called fit (and,
    under torchrun/srun, in every process, read from rank 0's run directory). A resumed
    run keeps its own devices and strategy: they set its global batch.

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
    processes = _processes(config.train)
    # The one process that writes: run directory, run.json, MLflow. It is the caller when
    # dlstack starts the processes (it waits for them), rank 0 under torchrun/srun.
    lead = processes.rank == 0
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

        record: RunRecord | None = None  # None in the processes that do not write
        tracker: Tracker | None = None
        if lead and previous is None:
            record, tracker = _start_run(
                project,
                config,
                task,
                run_dir,
                architecture,
                model,
                data,
                _run_tags(overrides, tags),
                processes.describe(config.train),
            )
            record.overrides = dict(overrides or {})
            record.origin = dict(origin) if origin else None
            runs.write_run(run_dir, record)
        elif lead and previous is not None:
            record, tracker = _reopen_run(project, config, run_dir, previous)
        if lead and progress and processes.world_size > 1:
            print(processes.summary(config.train), flush=True)
        history = History(listeners=[_OnRankZero(tracker.log_epoch)] if tracker else [])
        counted = _ProcessCount()
        # [metric] beyond plain accuracy: the best checkpoint is the objective's best.
        objective = _objective_monitor(config, data)
        checkpoints = _checkpoint_callback(
            task, run_dir, has_val="val" in data.datasets, objective=objective is not None
        )
        trainer = L.Trainer(
            max_epochs=config.train.max_epochs,
            **processes.trainer_args(),
            logger=False,  # tracking is the History listener's job: one MLflow write per epoch
            callbacks=[
                *([objective] if objective is not None else []),  # logs before History reads
                history,
                counted,
                StopOnNonFiniteLoss(config.train.lr),
                checkpoints,
                *([_progress_bar(processes)] if progress else []),
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
        # The callbacks that trained are copies in the spawned processes: after them, the
        # caller's are refreshed from rank 0's last.ckpt (it holds their state).
        trained_elsewhere = [history, counted, checkpoints] if processes.spawn else []
        started, started_cpu = time.perf_counter(), _cpu_seconds(processes.spawn)
        try:
            with _fresh_main_port(processes.spawn):
                trainer.fit(module, datamodule=data, ckpt_path=checkpoint_path)
        except BaseException as e:
            error = _raised_in_process(e)
            if record is not None and tracker is not None:
                _restore_callbacks(run_dir, trained_elsewhere)
                # Lightning turns Ctrl+C into SystemExit after a graceful stop: "killed".
                killed = isinstance(error, (KeyboardInterrupt, SystemExit))
                record.status = "interrupted" if killed else "failed"
                record.failure = None if killed else f"{type(error).__name__}: {error}"
                record.history = history.rows
                record.epochs_completed = len(history.rows)
                runs.write_run(run_dir, record)
                tracker.finish("KILLED" if killed else "FAILED")
            if error is e:
                raise
            raise error from None
        if record is not None and tracker is not None:
            _restore_callbacks(run_dir, trained_elsewhere)
            record.train_seconds += time.perf_counter() - started
            # CPU time of the training processes (this one, or the spawned ones): a steadier
            # yardstick than wall time on a busy machine.
            record.train_cpu_seconds = (
                (record.train_cpu_seconds or 0.0) + _cpu_seconds(processes.spawn) - started_cpu
            )
            _record_processes(record, counted.world_size)
            _finish_run(run_dir, record, tracker, history, checkpoints)
        if processes.launcher:
            # torchrun/srun: every process runs fit. Rank 0 sends its run id once run.json
            # is final (the broadcast waits for it), so all return the same TrainResult.
            run_dir = project.runs_dir / trainer.strategy.broadcast(run_dir.name, src=0)
    if record is None:
        return _result(project, run_dir, _read_shared_run(run_dir, processes.rank))
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
    try:
        with warnings.catch_warnings():
            _quiet_process()
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _quiet_process() -> None:
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in _IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


# -- several processes (DDP) ------------------------------------------------------------------


@dataclass(frozen=True)
class _Processes:
    """The training processes: how many per machine, on how many machines, this one's rank.

    On one machine dlstack starts them itself with Lightning's spawn launcher (what
    "ddp_spawn" names): fit's caller starts ``devices`` fresh Python processes that get
    the trainer, model and data pickled, waits for them, and goes on alone. That works the
    same from the CLI and from Python (a notebook, pytest, ``dlstack run``). Lightning's
    other launcher (its "ddp") re-runs ``sys.argv`` for each extra process: fine for
    ``dlstack train``, but under pytest it would re-run the test session, and under
    ``dlstack run`` every copy would go on to evaluate and export after training. So
    dlstack's "ddp" spawns too on one machine; across machines, torchrun or srun start
    one ``dlstack train`` per device (``launcher``) and Lightning joins them.

    Only global rank 0 writes. A spawned process gets a History whose MLflow listener
    runs on rank 0 only (_OnRankZero); Lightning saves checkpoints on rank 0 only, and
    the run directory, run.json and the MLflow run are the caller's. The run id is the
    caller's too: the processes get the run directory with the pickled callbacks (under
    torchrun/srun, rank 0 broadcasts it at the end, see fit).
    """

    devices: int  # processes per machine
    num_nodes: int = 1
    rank: int = 0  # this process's global rank; 0 for the caller when dlstack spawns
    launcher: str = ""  # "torchrun" or "srun" when they started the processes

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    @property
    def spawn(self) -> bool:
        return self.world_size > 1 and not self.launcher

    def trainer_args(self) -> dict[str, Any]:
        """L.Trainer's accelerator, devices, num_nodes and strategy for these processes."""
        if self.world_size == 1:
            return {"accelerator": "auto", "devices": 1}
        cuda = torch.cuda.is_available()
        return {
            # NCCL between GPUs; gloo between CPU processes (NCCL needs GPUs, MPS has no
            # DDP), so without CUDA the processes run on the CPU.
            "accelerator": "gpu" if cuda else "cpu",
            "devices": self.devices,
            "num_nodes": self.num_nodes,
            "strategy": _QuietDDP(
                process_group_backend="nccl" if cuda else "gloo",
                # "popen" under a launcher starts nothing: the processes exist already.
                start_method="popen" if self.launcher else "spawn",
            ),
        }

    def describe(self, train: TrainConfig) -> dict[str, Any]:
        """run.json's ``processes``: world_size is re-counted in the processes at the end."""
        distributed = self.world_size > 1
        return {
            "world_size": self.world_size,
            "devices": self.devices,
            "num_nodes": self.num_nodes,
            "strategy": train.strategy,
            "launcher": self.launcher or ("spawn" if distributed else None),
            "backend": (("nccl" if torch.cuda.is_available() else "gloo") if distributed else None),
            "batch_size_per_process": train.batch_size,
            "global_batch_size": train.batch_size * self.world_size,
        }

    def summary(self, train: TrainConfig) -> str:
        d = self.describe(train)
        where = f" on {self.num_nodes} machines" if self.num_nodes > 1 else ""
        return (
            f"DDP: {self.world_size} processes{where} ({d['launcher']}, {d['backend']}), "
            f"batch_size {train.batch_size} per process, global batch {d['global_batch_size']}"
        )


def _processes(train: TrainConfig) -> _Processes:
    """The processes ``[train] devices`` and ``strategy`` ask for, checked against this
    machine and the launcher that started this process, if any."""
    launched = _launched()
    if launched is not None:
        launcher, world_size, per_machine, rank = launched
        if train.strategy == "ddp_spawn":
            raise ConfigError(
                f"train.strategy 'ddp_spawn' starts its own processes, but {launcher} already "
                f'started {world_size}; set strategy = "ddp" (--strategy ddp) to train in '
                f"the processes {launcher} started"
            )
        if train.devices != per_machine or world_size % per_machine:
            raise ConfigError(
                f"train.devices is {train.devices} but {launcher} started {per_machine} "
                f"processes per machine ({world_size} in all); set --devices {per_machine}, "
                f"the number of processes {launcher} starts on each machine"
            )
        return _Processes(per_machine, world_size // per_machine, rank, launcher)
    if train.strategy == "ddp" and train.devices < 2:
        raise ConfigError(
            "train.strategy 'ddp' needs train.devices >= 2 on one machine (one process per "
            "device), or several processes started by torchrun or srun; got devices = 1. "
            'Set devices = 2 or more (--devices 2), or strategy = "auto" for one process'
        )
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus and train.devices > gpus:
        raise ConfigError(
            f"train.devices is {train.devices} but this machine has {gpus} GPU"
            f"{'s' if gpus > 1 else ''}; set devices = {gpus} or fewer (--devices {gpus})"
        )
    return _Processes(train.devices)


def _launched() -> tuple[str, int, int, int] | None:
    """(launcher, world size, processes per machine, this rank) when torchrun or srun
    started several processes of `dlstack train` (Lightning's own tests: torch elastic,
    then SLURM), else None."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    env = os.environ
    try:
        if TorchElasticEnvironment.detect():
            world_size = int(env["WORLD_SIZE"])
            launched = ("torchrun", world_size, int(env["LOCAL_WORLD_SIZE"]), int(env["RANK"]))
        elif SLURMEnvironment.detect():
            world_size = int(env["SLURM_NTASKS"])
            # Set by --ntasks-per-node; else spread evenly over the job's nodes.
            per_node = env.get("SLURM_NTASKS_PER_NODE") or world_size // int(
                env.get("SLURM_NNODES", "1")
            )
            launched = ("srun", world_size, int(per_node), int(env["SLURM_PROCID"]))
        else:
            return None
    except (KeyError, ValueError) as e:
        raise ConfigError(
            f"this process looks started by torchrun or srun, but its environment lacks a "
            f"readable {e}; launch `dlstack train` with torchrun or srun as the README shows"
        ) from None
    return launched if launched[1] > 1 else None


class _QuietDDP(DDPStrategy):
    """Lightning's DDP, quiet in every process: a spawned process starts with default log
    levels and warning filters, not the ones fit set in its caller."""

    def setup_environment(self) -> None:
        _quiet_process()  # before the process group's "Initializing distributed" lines
        super().setup_environment()


class _OnRankZero:
    """A History listener that runs in global rank 0 only: every rank has the same row
    (the metrics are synced), and MLflow gets one point per epoch. A class, not a
    closure, because spawned processes get it pickled."""

    def __init__(self, listener: Callable[[dict[str, float]], None]) -> None:
        self.listener = listener

    def __call__(self, row: dict[str, float]) -> None:
        dist = torch.distributed
        if not dist.is_initialized() or dist.get_rank() == 0:
            self.listener(row)


class _ProcessCount(Callback):
    """The processes that trained, counted in them (the process group's size), and kept
    in the checkpoints: run.json's evidence that DDP ran, not only that it was asked for."""

    def __init__(self) -> None:
        self.world_size = 1

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After the process group is up and after a resumed checkpoint's state is restored.
        dist = torch.distributed
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1

    def state_dict(self) -> dict[str, Any]:
        return {"world_size": self.world_size}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.world_size = int(state_dict.get("world_size", 1))


def _record_processes(record: RunRecord, world_size: int) -> None:
    """The counted world size into run.json's ``processes`` (a run resumed from before DDP
    gets it now)."""
    extra = record.model_extra
    assert extra is not None  # Record keeps unknown keys (extra="allow"): always a dict
    train = Config.model_validate(record.config).train
    processes = dict(extra.get("processes") or _Processes(1).describe(train))
    processes["world_size"] = world_size
    processes["global_batch_size"] = train.batch_size * world_size
    extra["processes"] = processes


def _progress_bar(processes: _Processes) -> ProgressBar:
    bar = make_progress_bar()
    if processes.spawn and isinstance(bar, EpochLines):
        # Its stream (sys.stdout) cannot be pickled into the spawned processes; without
        # one it prints to theirs, which is the caller's stdout.
        return EpochLines()
    return bar


def _restore_callbacks(run_dir: Path, callbacks: Sequence[Callback]) -> None:
    """Load ``callbacks``' state from the run's last.ckpt (rank 0 wrote it after each
    epoch): History's rows, the best checkpoint's score, the counted processes."""
    last = run_dir / runs.CHECKPOINTS / runs.LAST_CHECKPOINT
    if not callbacks or not last.is_file():
        return
    try:
        states = torch.load(last, map_location="cpu", weights_only=True).get("callbacks", {})
    except Exception as e:  # a process killed mid-write: keep what the caller has
        _log.warning("could not read %s to recover the run's history: %s", last, e)
        return
    for callback in callbacks:
        if callback.state_key in states:
            callback.load_state_dict(states[callback.state_key])


def _cpu_seconds(children: bool) -> float:
    """CPU seconds of this process, plus its finished child processes' (the spawned ranks,
    reaped when they joined) with ``children``."""
    seconds = time.process_time()
    if children and sys.platform != "win32":
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds += usage.ru_utime + usage.ru_stime
    return seconds


@contextlib.contextmanager
def _fresh_main_port(spawn: bool) -> Iterator[None]:
    """Lightning's spawn launcher leaves MASTER_PORT set to the port it picked; put the old
    value back, so that the next DDP fit in this process picks a free port of its own."""
    saved = os.environ.get("MASTER_PORT")
    try:
        yield
    finally:
        if spawn and saved is None:
            os.environ.pop("MASTER_PORT", None)
        elif spawn and saved is not None:
            os.environ["MASTER_PORT"] = saved


def _raised_in_process(error: BaseException) -> BaseException:
    """A dlstack error raised in a spawned process (a NaN loss), as itself: torch hands it
    over as the text of a ProcessRaisedException, and the CLI shows a DlstackError as one
    line where it would print that text as a traceback."""
    from torch.multiprocessing import ProcessRaisedException

    if not isinstance(error, ProcessRaisedException):
        return error
    lines = str(error).rstrip().splitlines()
    prefix = "dlstack.errors."
    for i in range(len(lines) - 1, -1, -1):  # the traceback's last "dlstack.errors.X: ..."
        name, sep, message = lines[i].partition(": ")
        kind = getattr(dlstack.errors, name.removeprefix(prefix), None)
        if (
            name.startswith(prefix)
            and sep
            and isinstance(kind, type)
            and issubclass(kind, DlstackError)
        ):
            return kind("\n".join([message, *lines[i + 1 :]]))
    return error


def _read_shared_run(run_dir: Path, rank: int) -> RunRecord:
    """Rank 0's run.json, read by another rank under torchrun/srun."""
    if not (run_dir / runs.RUN_FILE).is_file():
        raise ModelError(
            f"rank {rank} trained run {run_dir.name}, but rank 0 wrote it on another machine: "
            f"{run_dir} is not here. Put the project on a filesystem that every machine "
            f"mounts at the same path (the usual cluster home or scratch)"
        )
    return runs.read_run(run_dir)


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
    processes: dict[str, Any],
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
    # How many processes train and the global batch (_Processes.describe): not a RunRecord
    # field, an extra key, which records keep (extra="allow").
    assert record.model_extra is not None
    record.model_extra["processes"] = processes
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
    processes = (record.model_extra or {}).get("processes")
    if processes:  # runs from before DDP have none
        params["world_size"] = str(processes["world_size"])
        params["global_batch_size"] = str(processes["global_batch_size"])
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
        }
        | {"processes": (record.model_extra or {}).get("processes")},
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
