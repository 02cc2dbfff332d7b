"""Run directories: ids, ``run.json`` (a :class:`RunRecord`) and finding the latest run.

``.dlstack/runs/<run_id>/`` holds ``run.json`` (everything needed to rebuild the
TrainResult later: config, architecture, input shape, classes, normalization, data and
code versions, MLflow ids, history, best checkpoint) and ``checkpoints/`` (``best.ckpt``
by the task's monitor, ``last.ckpt`` to resume from). This module needs no torch: the
score and the lifecycle read runs without training anything.

>>> import tempfile
>>> run_dir = Path(tempfile.mkdtemp())
>>> record = RunRecord(run_id="r1", status="finished", task="classification",
...                    architecture="mlp", input_shape=[1, 8, 8], classes=["0", "1"],
...                    normalization={"mean": [0.5], "std": [0.2]}, data_version="v1",
...                    code_version="abc123", config={})
>>> read_run(write_run(run_dir, record).parent).kind
'run'
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from dlstack.errors import ModelError
from dlstack.layout import RUN_FILE
from dlstack.records import Record, RecordError, read_record, write_record

__all__ = [
    "BEST_CHECKPOINT",
    "LAST_CHECKPOINT",
    "RUN_FILE",
    "RunRecord",
    "find_run",
    "find_trained_run",
    "list_runs",
    "new_run_id",
    "read_run",
    "write_run",
]

CHECKPOINTS = "checkpoints"
BEST_CHECKPOINT = "best.ckpt"
LAST_CHECKPOINT = "last.ckpt"
LEGACY_SCHEMA = 1  # run.json before typed records: {"schema": 1, ...} and no "kind"

RunStatus = Literal["running", "finished", "failed", "interrupted"]


class RunRecord(Record):
    """``run.json``: one training run, as ``fit`` writes it at start, on resume and at the end."""

    KIND = "run"

    run_id: str
    status: RunStatus
    created: str = ""
    started_at: float = 0.0  # time.time(): orders runs started within the same second
    task: str
    architecture: str
    input_shape: list[int] | dict[str, list[int]]  # {input name: shape}: several inputs
    classes: list[str]
    normalization: dict[str, list[float]]  # {"mean": [...], "std": [...]}, train split only
    image: dict[str, Any] | None = None  # the data's ImageSpec.to_dict() (channels, size...)
    table_encoder: dict[str, Any] | None = None  # a table's fitted TableEncoder.to_dict()
    # A regression's train-split {"mean": [...], "std": [...]} per target: the model learns
    # standardized targets, and the loaded model answers in the target's units.
    target_scaling: dict[str, list[float]] | None = None
    data_version: str
    code_version: str
    model_source: dict[str, str] | None = None  # a user model's {"path", "sha256"}
    num_params: int = 0
    split_sizes: dict[str, int] = Field(default_factory=dict)
    config: dict[str, Any]  # Config.model_dump(mode="json") of the run
    # Keys set over dlstack.toml for this run (`--set`, a tuning trial's parameters).
    overrides: dict[str, Any] = Field(default_factory=dict)
    # Where the run came from: {"study": name, "trial": number} for a tuning trial,
    # {"study": name, "from_trial": number} for a retrained one; None for a plain run.
    origin: dict[str, Any] | None = None
    epochs_completed: int = 0
    history: list[dict[str, Any]] = Field(
        default_factory=list
    )  # epoch and train_*/val_* metrics (NaN saved as null)
    train_seconds: float = 0.0
    train_cpu_seconds: float | None = None
    mlflow: dict[str, str | None] | None = None  # {"experiment_id", "run_id"}
    finished: str | None = None
    failure: str | None = None  # why a failed run stopped (e.g. the loss became NaN)
    best_checkpoint: str | None = None  # relative to the run directory
    best_score: float | None = None
    monitor: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Runs written before typed records say ``"schema": 1`` and have no ``kind``."""
        if isinstance(data, dict) and "schema" in data and "schema_version" not in data:
            data = dict(data)
            legacy = data.pop("schema")
            if legacy != LEGACY_SCHEMA:
                raise ValueError(
                    f"schema {legacy!r} is not one this dlstack reads (run.json schema "
                    f"{LEGACY_SCHEMA}, or schema_version up to {cls.SCHEMA})"
                )
            data["schema_version"] = LEGACY_SCHEMA
        return data

    @property
    def best_checkpoint_path(self) -> str:
        """The best checkpoint, relative to the run directory (the default when unset)."""
        return self.best_checkpoint or f"{CHECKPOINTS}/{BEST_CHECKPOINT}"


def new_run_id(now: float | None = None) -> str:
    """``20261130-051500-3f2a``: sorts by start time; the suffix keeps parallel runs apart."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}-{secrets.token_hex(2)}"


def list_runs(runs_dir: Path) -> list[str]:
    """Run ids that have a run.json, oldest first (by start time, then id)."""
    if not runs_dir.is_dir():
        return []
    found = []
    for path in runs_dir.iterdir():
        run_file = path / RUN_FILE
        if not run_file.is_file():
            continue
        try:
            started = read_record(run_file, RunRecord).started_at
        except RecordError:
            started = 0.0  # unreadable: sort it first, by id; find_run reports it if picked
        found.append((path.name[:15], started, path.name))
    # Ids sort by the second they started; within one second, by the stored start time.
    return [name for _, _, name in sorted(found)]


def find_run(runs_dir: Path, run_id: str | None = None) -> Path:
    """The directory of ``run_id``, or of the latest run when None."""
    runs = list_runs(runs_dir)
    if run_id is None:
        if not runs:
            raise ModelError(
                f"no training runs in {runs_dir}; train one first with `dlstack train`"
            )
        return runs_dir / runs[-1]
    if run_id not in runs:
        known = ", ".join(runs[-5:]) or "none yet"
        raise ModelError(
            f"no run {run_id!r} in {runs_dir} (latest runs: {known}); pass one of those, or "
            f"train a new one with `dlstack train`"
        )
    return runs_dir / run_id


def find_trained_run(runs_dir: Path) -> Path:
    """The latest run that has a best checkpoint: what evaluate and export use by default.

    A run killed before its first epoch ends has a run.json and no checkpoint; picking it
    would only say "resume it", and resuming it says "start a new run". Each run skipped
    for that reason is named in a warning.
    """
    import warnings

    from dlstack.errors import DlstackWarning

    skipped: list[str] = []
    for run_id in reversed(list_runs(runs_dir)):
        try:
            record = read_run(runs_dir / run_id)
        except ModelError:
            skipped.append(f"{run_id} (run.json unreadable)")
            continue
        if (runs_dir / run_id / record.best_checkpoint_path).is_file():
            for line in skipped:
                warnings.warn(f"skipped run {line}: it has no checkpoint", DlstackWarning, 2)
            return runs_dir / run_id
        skipped.append(f"{run_id} ({record.status})")
    if not skipped:
        return find_run(runs_dir)  # no runs at all: the usual "train one first"
    raise ModelError(
        f"no run in {runs_dir} has a checkpoint yet (runs without one: "
        f"{', '.join(skipped[:5])}; they stopped before their first epoch ended); train "
        f"one with `dlstack train`"
    )


def read_run(run_dir: Path) -> RunRecord:
    """``run_dir/run.json``, validated; ModelError when it is damaged or of a newer dlstack."""
    try:
        return read_record(run_dir / RUN_FILE, RunRecord)
    except RecordError as e:
        raise ModelError(f"{e}; the run cannot be used, train a new one") from None


def write_run(run_dir: Path, record: RunRecord) -> Path:
    """Write run.json atomically: readers see the old file or the new one, never half."""
    return write_record(run_dir / RUN_FILE, record)
