"""`dlstack tune` for real: trials are training runs on digits8, nested in MLflow, recorded,
reported, counted by `dlstack score`, retrained with --from-trial, resumed and extended."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from dlstack.config import Project
from dlstack.data import Snapshot
from dlstack.train import read_run
from dlstack.tune import REPORT_FILE, read_tune_result, settle, storage_url, study_dir, tune


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The CLI in this process (its imports are paid once): exit code, stdout + stderr."""
    from dlstack.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(args)
    out = capsys.readouterr()
    return int(exit_.value.code or 0), out.out + out.err


def test_a_study_trains_its_trials_and_records_the_winner(
    tuned_project: tuple[Project, Snapshot],
) -> None:
    project, snapshot = tuned_project
    seen: list[int] = []
    result = tune(project, snapshot, on_trial=lambda t: seen.append(t.number))
    assert seen == [0, 1, 2, 3] and result.trials == 4 and result.states == {"COMPLETE": 4}
    assert result.direction == "maximize" and result.monitor == "val_acc"
    values = [r["value"] for r in result.rows]
    assert result.best is not None and result.best["value"] == max(values)
    # every trial is a normal run, with its parameters as overrides and 1 epoch ([tune])
    for row in result.rows:
        run = read_run(project.runs_dir / row["run_id"])
        assert run.status == "finished" and run.epochs_completed == 1
        assert run.origin == {"study": "digits8", "trial": row["number"]}
        assert run.overrides == {**row["params"], "train.max_epochs": 1}
        assert run.config["train"]["lr"] == row["params"]["train.lr"]
        assert run.best_score == row["value"]
    # the second round searched inside a narrower lr range, stored and reported
    assert len(result.rounds) == 2 and result.rounds[1]["train.lr"] != result.rounds[0]["train.lr"]
    folder = study_dir(project, "digits8")
    html = (folder / REPORT_FILE).read_text()
    for section in ("Best trial", "Objective over trials", "Coarse-to-fine rounds", "Trials"):
        assert section in html
    assert read_tune_result(project, "digits8").best == result.best


def test_trials_nest_under_the_studys_mlflow_run(tuned_project: tuple[Project, Snapshot]) -> None:
    project, snapshot = tuned_project
    result = tune(settle(project, trials=2, strategy="random"), snapshot)
    client = MlflowClient(tracking_uri=project.tracking_uri)
    runs = client.search_runs(client.get_experiment_by_name("digits8").experiment_id)
    parents = [r for r in runs if r.data.tags.get("dlstack.kind") == "study"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["dlstack.trial"] for r in children) == ["0", "1"]
    assert parent.data.metrics["best_value"] == result.best["value"]  # type: ignore[index]
    assert parent.data.params["tune.strategy"] == "random"
    assert parent.info.status == "FINISHED"
    for child in children:
        assert "train.lr" in child.data.params and child.data.params["data_version"]


def test_a_finished_study_resumes_without_retraining_and_grows_with_more_trials(
    tuned_project: tuple[Project, Snapshot],
) -> None:
    project, snapshot = tuned_project
    small = settle(project, trials=2, strategy="random")
    first = tune(small, snapshot)
    again = tune(small, snapshot)  # nothing left to do
    assert [r["run_id"] for r in again.rows] == [r["run_id"] for r in first.rows]
    more = tune(settle(project, trials=3, strategy="random"), snapshot)
    assert more.trials == 3 and more.rows[:2] == again.rows[:2]


def test_a_study_started_with_other_settings_is_refused(
    tuned_project: tuple[Project, Snapshot],
) -> None:
    from dlstack.errors import ConfigError

    project, snapshot = tuned_project
    tune(settle(project, trials=2, strategy="random"), snapshot)
    with pytest.raises(ConfigError, match="searches something else: strategy"):
        tune(settle(project, trials=2, strategy="bayes"), snapshot)


def test_pruning_stops_hopeless_trials_early(tmp_path: Path) -> None:
    from tune_fixtures import make_project

    space = """
[tune]
strategy = "random"
trials = 7
max_epochs = 3
pruner = "median"
[tune.space]
lr = "choice 0.003 1e-7"
"""
    project, snapshot = make_project(tmp_path / "proj", space)
    result = tune(project, snapshot)
    pruned = [r for r in result.rows if r["state"] == "PRUNED"]
    assert pruned, result.rows
    for row in pruned:  # only the lr that cannot learn in 3 epochs is stopped, and early
        assert row["params"]["train.lr"] == 1e-7
        assert row["pruned_at_epoch"] < 3 and row["epochs"] == row["pruned_at_epoch"]
    assert all(r["epochs"] == 3 for r in result.rows if r["state"] == "COMPLETE")
    assert result.best is not None and result.best["params"]["train.lr"] == 0.003
    assert "pruned (epoch" in (study_dir(project, "digits8") / REPORT_FILE).read_text()


def test_cli_tune_then_retrain_a_trial_and_compare_a_manual_run(
    tuned_project: tuple[Project, Snapshot], capsys: pytest.CaptureFixture[str]
) -> None:
    project, snapshot = tuned_project
    root = str(project.root)
    code, out = _cli(["tune", "-p", root, "--trials", "2", "--strategy", "random"], capsys)
    assert code == 0, out
    assert "trial   0  complete" in out and "retrain it: dlstack train --from-trial" in out
    best = read_tune_result(project, "digits8").best
    assert best is not None
    code, out = _cli(["train", "-p", root, "--from-trial", str(best["number"]), "-q"], capsys)
    assert code == 0, out
    code, out = _cli(
        ["train", "-p", root, "--set", "train.lr=0.002", "--set", "max_epochs=1", "-q"], capsys
    )
    assert code == 0, out
    # the retrained trial runs [train]'s 2 epochs with the trial's parameters
    # run directories are not ordered by time within a second: find each by what it holds
    runs = [read_run(d) for d in project.runs_dir.iterdir()]
    (retrained,) = [r for r in runs if (r.origin or {}).get("from_trial") is not None]
    (by_hand,) = [r for r in runs if not r.origin and r.overrides]
    assert retrained.overrides == best["params"] and retrained.epochs_completed == 2
    assert retrained.origin == {"study": "digits8", "from_trial": best["number"]}
    assert by_hand.overrides == {"train.lr": 0.002, "train.max_epochs": 1}
    assert by_hand.config["train"]["lr"] == 0.002
    # the finished study, recorded again, has the manual runs beside its trials
    manual_runs = tune(settle(project, trials=2, strategy="random"), snapshot).manual_runs
    assert {m["run_id"] for m in manual_runs} == {retrained.run_id, by_hand.run_id}
    # a user mistake is one line, exit 2
    code, out = _cli(["train", "-p", root, "--set", "train.lr=-1"], capsys)
    assert code == 2 and "train.lr must be > 0" in out and "Traceback" not in out
    code, out = _cli(["train", "-p", root, "--from-trial", "99"], capsys)
    assert code == 2 and "no finished trial 99" in out


def test_score_counts_the_study_as_tuning_evidence(tuned_project: tuple[Project, Snapshot]) -> None:
    from dlstack.evaluate._score_evidence import Evidence

    project, snapshot = tuned_project
    tune(settle(project, trials=2, strategy="random"), snapshot)
    evidence = Evidence(project, project)
    assert [r["trials"] for r in evidence.tune_results] == [2]
    from dlstack.lifecycle._run import _tuning_links

    run_dir = project.runs_dir / "some-run"
    assert _tuning_links(project, run_dir) == {"Tuning: digits8": "../../tune/digits8/report.html"}
    assert optuna.load_study(study_name="digits8", storage=storage_url(project)).best_trial
