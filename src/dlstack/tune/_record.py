"""A study's record: ``.dlstack/tune/<study>/result.json`` (a :class:`TuneResult`) and its
``report.html``. ``dlstack score`` counts the trials here as tuning evidence; manual runs
(`dlstack train --set ...`) on the same data version sit in the same comparison.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from dlstack.config import Project
from dlstack.layout import Layout
from dlstack.records import Record, RecordError, read_record

if TYPE_CHECKING:  # optuna is imported by the functions that build a record, not to read one
    import optuna

    from dlstack.tune._space import Range
    from dlstack.tune._study import StudySetup

__all__ = [
    "REPORT_FILE",
    "RESULT_FILE",
    "TuneResult",
    "build_result",
    "read_tune_result",
    "study_dir",
    "tune_results",
]

RESULT_FILE = "result.json"
REPORT_FILE = "report.html"


class TuneResult(Record):
    KIND = "tune"

    study: str
    storage: str  # without its password
    strategy: str
    direction: str
    monitor: str
    objective: str
    data_version: str
    space: dict[str, str]
    trials: int  # finished trials (complete + pruned): what `dlstack score` counts
    target_trials: int
    states: dict[str, int] = Field(default_factory=dict)  # COMPLETE, PRUNED, FAIL, RUNNING
    best: dict[str, Any] | None = None  # number, value, params, run_id
    rows: list[dict[str, Any]] = Field(default_factory=list)  # one per trial
    rounds: list[dict[str, str]] = Field(default_factory=list)  # coarse-to-fine ranges
    importances: dict[str, float] = Field(default_factory=dict)
    manual_runs: list[dict[str, Any]] = Field(default_factory=list)
    seconds: float = 0.0
    created: str = ""


def study_dir(project: Layout, study: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", study).strip("._") or "study"
    return project.tune_dir / safe


def build_result(
    project: Project, study: optuna.Study, setup: StudySetup, url: str, seconds: float
) -> TuneResult:
    from optuna.trial import TrialState

    from dlstack.tune._sampler import round_ranges
    from dlstack.tune._study import redact

    trials = study.get_trials(deepcopy=False)
    per_round = max(1, setup.trials_per_round)
    rows = [_row(t, min(t.number // per_round, setup.rounds - 1)) for t in trials]
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    best = None
    if complete:
        b = study.best_trial
        best = {
            "number": b.number,
            "value": float(b.value or 0.0),
            "params": dict(b.params),
            "run_id": b.user_attrs.get("run_id"),
        }
    full = {k: _range_of(v) for k, v in setup.space.items()}
    rounds = [
        {k: r.describe() for k, r in ranges.items()}
        for ranges in round_ranges(study, full, setup.rounds)
    ]
    return TuneResult(
        study=study.study_name,
        storage=redact(url),
        strategy=setup.strategy,
        direction=setup.direction,
        monitor=setup.monitor,
        objective=setup.objective,
        data_version=setup.data_version,
        space=dict(setup.space),
        trials=states.get("COMPLETE", 0) + states.get("PRUNED", 0),
        target_trials=setup.trials,
        states=states,
        best=best,
        rows=rows,
        rounds=rounds if setup.strategy == "coarse-to-fine" else [],
        importances=_importances(study, len(complete)),
        manual_runs=_manual_runs(project, setup),
        seconds=round(seconds, 2),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


def _range_of(text: str) -> Range:
    from dlstack.config import Dimension
    from dlstack.tune._space import Range

    return Range.of(Dimension.parse("x", text))


def _row(t: optuna.trial.FrozenTrial, round_: int) -> dict[str, Any]:
    value = t.value
    if value is None and t.intermediate_values:  # a pruned trial: its last reported value
        value = t.intermediate_values[max(t.intermediate_values)]
    seconds = None
    if t.datetime_start and t.datetime_complete:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds()
    return {
        "number": t.number,
        "state": t.state.name,
        "value": None if value is None or not math.isfinite(value) else float(value),
        "params": dict(t.params),
        "round": round_,
        "run_id": t.user_attrs.get("run_id"),
        "epochs": t.user_attrs.get("epochs"),
        "pruned_at_epoch": t.user_attrs.get("pruned_at_epoch"),
        "failure": t.user_attrs.get("failure"),
        "seconds": None if seconds is None else round(seconds, 2),
        "intermediate": {str(k): float(v) for k, v in sorted(t.intermediate_values.items())},
    }


def _importances(study: optuna.Study, complete: int) -> dict[str, float]:
    """fANOVA importances (Optuna's default evaluator), when there is enough to fit."""
    if complete < 4 or len(study.get_trials(deepcopy=False)[0].distributions or {}) < 1:
        return {}
    try:
        from optuna.importance import FanovaImportanceEvaluator, get_param_importances

        found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError, ImportError):  # e.g. every trial has the same value
        return {}
    return {k: round(float(v), 4) for k, v in found.items()}


def _manual_runs(project: Project, setup: StudySetup) -> list[dict[str, Any]]:
    """Finished runs on the study's data version that are not its trials: the manual ones
    (`dlstack train`, `--set`, `--from-trial`), scored by the same monitor."""
    from dlstack.errors import ModelError
    from dlstack.train import list_runs, read_run

    out = []
    for run_id in list_runs(project.runs_dir):
        try:
            record = read_run(project.runs_dir / run_id)
        except ModelError:
            continue
        origin = record.origin or {}
        if "trial" in origin or record.status != "finished":
            continue
        if record.data_version != setup.data_version or record.monitor != setup.monitor:
            continue
        out.append(
            {
                "run_id": record.run_id,
                "value": record.best_score,
                "overrides": dict(record.overrides),
                "from_trial": origin.get("from_trial"),
                "epochs": record.epochs_completed,
            }
        )
    return out


def read_tune_result(project: Layout, study: str) -> TuneResult:
    path = study_dir(project, study) / RESULT_FILE
    if not path.is_file():
        raise RecordError(f"no tuning record for study {study!r} at {path}; run `dlstack tune`")
    return read_record(path, TuneResult)


def tune_results(project: Layout) -> list[TuneResult]:
    """Every study's record in the project (damaged ones left out)."""
    found = []
    if project.tune_dir.is_dir():
        for path in sorted(project.tune_dir.glob(f"*/{RESULT_FILE}")):
            try:
                found.append(read_record(path, TuneResult))
            except RecordError:
                continue
    return found
