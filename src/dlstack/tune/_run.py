"""``tune``: run a study to its trial count, alone or with worker processes, then record it.

Read top to bottom: settle the [tune] settings (the file's, then the caller's), open the
study (created, resumed or joined), open the study's MLflow run, let workers take trials
until the study has ``trials`` finished ones, then write ``result.json`` and
``report.html`` under ``.dlstack/tune/<study>/`` and log them to the study's run.

A worker (``work``) loops: fail the trials of dead workers (no heartbeat), stop when the
study has its finished trials, wait while the trials still running would complete it,
else run one more. So any number of workers on any number of machines share one study,
a killed worker's trial is marked failed and replaced, and a study killed mid-way
continues where it stopped when `dlstack tune` runs again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from dlstack.config import Project, TuneConfig
from dlstack.data import Snapshot
from dlstack.errors import ConfigError, DataError, ModelError
from dlstack.tune._quiet import fail_dead_trials
from dlstack.tune._record import TuneResult, build_result
from dlstack.tune._report import write_result
from dlstack.tune._space import Range, distributions
from dlstack.tune._study import (
    PARENT_RUN_ATTR,
    StudySetup,
    make_pruner,
    make_sampler,
    open_study,
    redact,
    storage_url,
    stored_setup,
    study_name,
)
from dlstack.tune._trial import TrialRunner

__all__ = ["TrialLine", "settle", "tune", "work"]

TrialLine = Callable[[FrozenTrial], None]
_POLL_SECONDS = 1.0
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def settle(project: Project, **changes: Any) -> Project:
    """The project with [tune] changed by the caller's non-None ``changes`` (validated)."""
    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        return project
    try:
        tune = TuneConfig.model_validate({**project.config.tune.model_dump(), **given})
    except Exception as e:
        from pydantic import ValidationError

        from dlstack.config import format_validation_error

        if isinstance(e, ValidationError):
            raise ConfigError(format_validation_error(e, TuneConfig)) from None
        raise
    return Project(project.root, project.config.model_copy(update={"tune": tune}))


def tune(
    project: Project,
    snapshot: Snapshot,
    *,
    workers: int = 1,
    storage: str | None = None,
    study: str | None = None,
    on_trial: TrialLine | None = None,
) -> TuneResult:
    """Run ``project``'s study ([tune]) to its trial count and record it.

    ``workers`` > 1 starts that many `dlstack tune --worker` processes on the same storage
    (this process then only watches); ``storage`` (an Optuna RDB URL) and ``study`` override
    [tune]. ``on_trial`` is called with each trial as it finishes.
    """
    started = time.perf_counter()
    url, name = storage_url(project, storage), study_name(project, study)
    setup = study_setup(project, snapshot)
    opened = _open(project, snapshot, url, name, setup)
    setup = stored_setup(opened, setup)  # a resumed study keeps the size of its rounds
    parent = _parent_run(project, opened, name, setup, url)
    if workers <= 1:
        work(project, snapshot, storage=url, study=name, on_trial=on_trial)
    else:
        _run_workers(project, snapshot, url, name, workers, on_trial)
        # A worker that died leaves its share undone: finish it here.
        work(project, snapshot, storage=url, study=name, on_trial=on_trial)
    result = build_result(project, opened, setup, url, time.perf_counter() - started)
    folder = write_result(project, result)
    _finish_parent(project, parent, result, folder)
    return result


def study_setup(project: Project, snapshot: Snapshot) -> StudySetup:
    from dlstack.objective import Objective
    from dlstack.train import MONITOR, get_task, uses_objective

    cfg = project.config
    if snapshot.counts().get("val", 0) == 0:
        raise DataError(
            f"tuning picks trials by their val split, and data version {snapshot.version[:12]}"
            f" has none ({snapshot.counts()}); give [data] split a val fraction"
        )
    task = get_task(cfg.project.task)
    monitor, mode = (
        (MONITOR, "max") if uses_objective(cfg.metric) else (task.monitor, task.monitor_mode)
    )
    space = cfg.tune.search_space
    return StudySetup(
        strategy=cfg.tune.strategy,
        direction="maximize" if mode == "max" else "minimize",
        monitor=monitor,
        objective=Objective.from_config(cfg.metric).describe(),
        space={k: v.describe() for k, v in sorted(distributions_keys(space).items())},
        trials=cfg.tune.trials,
        rounds=cfg.tune.rounds if cfg.tune.strategy == "coarse-to-fine" else 1,
        top_k=cfg.tune.top_k,
        trials_per_round=cfg.tune.trials_per_round,
        data_version=snapshot.version,
        max_epochs=cfg.tune.max_epochs or cfg.train.max_epochs,
    )


def distributions_keys(space: dict[str, Any]) -> dict[str, Any]:
    from dlstack.config import full_key

    return {full_key(k): v for k, v in space.items()}


def full_ranges(tune_cfg: TuneConfig) -> dict[str, Range]:
    return {k: Range.of(v) for k, v in distributions_keys(tune_cfg.search_space).items()}


def work(
    project: Project,
    snapshot: Snapshot,
    *,
    storage: str | None = None,
    study: str | None = None,
    worker: int = 0,
    on_trial: TrialLine | None = None,
) -> None:
    """Take trials of the study until it has [tune] trials finished (complete or pruned)."""
    url, name = storage_url(project, storage), study_name(project, study)
    setup = study_setup(project, snapshot)
    opened = _open(project, snapshot, url, name, setup, worker=worker)
    setup = stored_setup(opened, setup)
    tune_cfg = project.config.tune
    runner = TrialRunner(
        project=project,
        snapshot=snapshot,
        space=distributions(tune_cfg.search_space),
        monitor=setup.monitor,
        study_name=name,
        parent_run_id=opened.user_attrs.get(PARENT_RUN_ATTR),
        max_epochs=tune_cfg.max_epochs,
        prune_from_round=1
        if setup.strategy == "coarse-to-fine" and not tune_cfg.prune_coarse
        else 0,
        trials_per_round=setup.trials_per_round,
    )
    callbacks = [lambda _s, t: on_trial(t)] if on_trial else []
    while True:
        fail_dead_trials(opened)
        states = [t.state for t in opened.get_trials(deepcopy=False)]
        finished = sum(s in FINISHED for s in states)
        running = states.count(TrialState.RUNNING)
        failed = states.count(TrialState.FAIL)
        if finished >= setup.trials:
            return
        if failed >= max(3, setup.trials):
            raise ModelError(
                f"study {name!r}: {failed} trials failed (a diverged loss, a killed worker); "
                f"look at their failure in `dlstack tune` output or the report, and narrow "
                f"[tune.space] (a lower lr range) before running it again"
            )
        if finished + running >= setup.trials:  # the others' running trials complete it
            time.sleep(_POLL_SECONDS)
            continue
        opened.optimize(runner, n_trials=1, catch=(ModelError,), callbacks=callbacks)


def _open(
    project: Project,
    snapshot: Snapshot,
    url: str,
    name: str,
    setup: StudySetup,
    *,
    worker: int = 0,
) -> optuna.Study:
    tune_cfg = project.config.tune
    return open_study(
        url,
        name,
        setup,
        sampler=make_sampler(tune_cfg, full_ranges(tune_cfg), worker),
        pruner=make_pruner(tune_cfg, setup.max_epochs),
        heartbeat_seconds=tune_cfg.heartbeat_seconds,
    )


def _run_workers(
    project: Project,
    snapshot: Snapshot,
    url: str,
    name: str,
    workers: int,
    on_trial: TrialLine | None,
) -> None:
    """``workers`` processes of `dlstack tune --worker`; this one reports their trials."""
    cmd = [sys.executable, "-m", "dlstack", "tune", "--worker", "-p", str(project.root)]
    cmd += ["--version", snapshot.version, "--storage", url, "--study", name]
    cmd += _tune_args(project.config.tune)
    study = optuna.load_study(study_name=name, storage=url)
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    with _processes([[*cmd, "--worker-index", str(i)] for i in range(workers)]) as procs:
        while any(p.poll() is None for p in procs):
            time.sleep(_POLL_SECONDS)
            seen |= _report_new(study, seen, on_trial)
        seen |= _report_new(study, seen, on_trial)
    failed = [p.returncode for p in procs if p.returncode != 0]
    if failed and len(failed) == len(procs):
        raise ModelError(
            f"every tuning worker failed (exit codes {failed}); run `dlstack tune` without "
            f"--workers to see the error"
        )


def _tune_args(tune_cfg: TuneConfig) -> list[str]:
    """The [tune] settings a caller may have changed, passed on to the workers."""
    args = ["--trials", str(tune_cfg.trials), "--strategy", tune_cfg.strategy]
    args += ["--pruner", tune_cfg.pruner]
    if tune_cfg.max_epochs is not None:
        args += ["--max-epochs", str(tune_cfg.max_epochs)]
    return args


def _report_new(study: optuna.Study, seen: set[int], on_trial: TrialLine | None) -> set[int]:
    new = {
        t.number: t
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and t.number not in seen
    }
    if on_trial:
        for number in sorted(new):
            on_trial(new[number])
    return set(new)


@contextlib.contextmanager
def _processes(commands: list[list[str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for c in commands
    ]
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
            if p.stderr is not None:
                p.stderr.close()


def _parent_run(
    project: Project, study: optuna.Study, name: str, setup: StudySetup, url: str
) -> Any:
    """The study's MLflow run (created once, shared by every worker; trials nest in it)."""
    from dlstack.train import Tracker

    existing = study.user_attrs.get(PARENT_RUN_ATTR)
    if existing:
        reopened = Tracker.reopen(project, existing)
        if reopened is not None:
            return reopened
    params = {
        "tune.strategy": setup.strategy,
        "tune.trials": str(setup.trials),
        "tune.direction": setup.direction,
        "tune.monitor": setup.monitor,
        "tune.storage": redact(url),
        "data_version": setup.data_version,
        **{f"space.{k}": v for k, v in setup.space.items()},
    }
    tags = {
        "dlstack.study": name,
        "dlstack.kind": "study",
        "dlstack.data_version": setup.data_version,
    }
    tracker = Tracker.start(project, run_name=f"tune {name}", params=params, tags=tags)
    study.set_user_attr(PARENT_RUN_ATTR, tracker.run_id)
    return tracker


def _finish_parent(project: Project, tracker: Any, result: TuneResult, folder: Path) -> None:
    metrics: dict[str, float] = {"trials_finished": float(result.trials)}
    if result.best is not None:
        metrics["best_value"] = float(result.best["value"])
    tracker.log_metrics(metrics, step=result.trials)
    if result.best is not None:
        tracker.set_tags(
            {
                "dlstack.best_trial": str(result.best["number"]),
                "dlstack.best_run": str(result.best.get("run_id", "")),
            }
        )
    for path in sorted(folder.iterdir()):
        if path.is_file():
            tracker.log_artifact(path, "tune")
    tracker.finish("FINISHED")
