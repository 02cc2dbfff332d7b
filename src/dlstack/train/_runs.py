"""Run directories: ids, ``run.json`` and finding the latest run.

``.dlstack/runs/<run_id>/`` holds ``run.json`` (everything needed to rebuild the
TrainResult later: config, architecture, input shape, classes, normalization, data and
code versions, MLflow ids, history, best checkpoint) and ``checkpoints/`` (``best.ckpt``
by the task's monitor, ``last.ckpt`` to resume from).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from dlstack.errors import ModelError

__all__ = [
    "BEST_CHECKPOINT",
    "LAST_CHECKPOINT",
    "RUN_FILE",
    "find_run",
    "list_runs",
    "new_run_id",
    "read_run",
    "write_run",
]

RUN_FILE = "run.json"
RUN_SCHEMA = 1
CHECKPOINTS = "checkpoints"
BEST_CHECKPOINT = "best.ckpt"
LAST_CHECKPOINT = "last.ckpt"


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
            started = float(json.loads(run_file.read_text(encoding="utf-8"))["started_at"])
        except (OSError, ValueError, KeyError, TypeError):
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


def read_run(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_FILE
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {path}: {e}; the run is damaged, train a new one") from e
    if record.get("schema") != RUN_SCHEMA:
        raise ModelError(
            f"{path} has schema {record.get('schema')!r}, this dlstack reads schema "
            f"{RUN_SCHEMA}; train a new run with this version"
        )
    return record


def write_run(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write run.json atomically: readers see the old file or the new one, never half."""
    record = {"schema": RUN_SCHEMA, **record}
    path = run_dir / RUN_FILE
    fd, tmp = tempfile.mkstemp(prefix=".run.", suffix=".json", dir=run_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
