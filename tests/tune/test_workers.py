"""Many workers on one study: two processes on a real PostgreSQL server, and a worker
killed with SIGKILL mid-trial (its trial is marked failed, the study goes on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from tune_fixtures import make_project

from dlstack.tune import storage_url, tune


@pytest.mark.services
def test_two_workers_share_a_study_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    project, _ = make_project(tmp_path / "proj")
    done = subprocess.run(
        [
            sys.executable, "-m", "dlstack", "tune", "--workers", "2", "--trials", "6",
            "--strategy", "random", "--storage", postgres_url, "--study", "pg-two-workers",
        ],
        cwd=project.root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="pg-two-workers", storage=postgres_url)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    # no trial lost or run twice: six numbers, six runs, each run's lr its trial's own
    assert sorted(t.number for t in trials) == list(range(6))
    runs = [t.user_attrs["run_id"] for t in trials]
    assert len(set(runs)) == 6
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both processes took trials
    from dlstack.train import read_run

    for t in trials:
        assert (
            read_run(project.runs_dir / t.user_attrs["run_id"]).overrides["train.lr"]
            == (t.params["train.lr"])
        )
    assert "trial   5  complete" in done.stdout  # the watcher reports the workers' trials


def test_a_killed_worker_fails_its_trial_and_the_study_goes_on(tmp_path: Path) -> None:
    tune_section = """
[tune]
strategy = "random"
trials = 3
max_epochs = 3
heartbeat_seconds = 1
[tune.space]
lr = "log-uniform 1e-4 1e-2"
"""
    project, snapshot = make_project(tmp_path / "proj", tune_section)
    url = storage_url(project)
    worker = subprocess.Popen(
        [sys.executable, "-m", "dlstack", "tune", "--worker", "-p", str(project.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        killed = _wait_for_running_trial(url, "digits8", worker)
        os.kill(worker.pid, signal.SIGKILL)  # kill -9: no chance to clean up
    finally:
        worker.wait(timeout=30)
    result = tune(project, snapshot)  # resumes the study where the dead worker left it
    states = {r["number"]: r["state"] for r in result.rows}
    assert states[killed] == "FAIL"
    assert result.trials == 3 and list(states.values()).count("COMPLETE") == 3
    assert result.states == {"COMPLETE": 3, "FAIL": 1}


def _wait_for_running_trial(url: str, name: str, worker: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 300  # an outer cap; the worker starts in seconds
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker exited before it took a trial"
        try:
            study = optuna.load_study(study_name=name, storage=url)
        except KeyError:  # not created yet
            time.sleep(0.2)
            continue
        running = [t for t in study.get_trials() if t.state == TrialState.RUNNING]
        # mid-trial: its first epoch reported, its last not yet
        if running and running[0].intermediate_values:
            return running[0].number
        time.sleep(0.2)
    raise AssertionError("no trial started within 300 s")
