"""`dlstack tune`: search [tune.space] with coarse-to-fine, random or Bayesian search.

dlstack tune -p PROJECT                       the study of [tune], in the project's sqlite
dlstack tune --workers 2                      two local worker processes on one study
dlstack tune --storage postgresql+psycopg://u:p@host/db    a study shared by machines
dlstack tune --dashboard                      optuna-dashboard on the study's storage
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dlstack.cli._common import ProjectOpt, QuietOpt, console, open_project, table

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from dlstack.config import Project
    from dlstack.tune import TuneResult


def register(app: typer.Typer) -> None:
    app.command()(tune)


def tune(
    project: ProjectOpt = Path("."),
    version: Annotated[str, typer.Option(help="Data version the trials train on.")] = "HEAD",
    trials: Annotated[
        int | None, typer.Option(help="Finished trials the study needs ([tune] trials).", min=1)
    ] = None,
    strategy: Annotated[
        str | None, typer.Option(help="random, coarse-to-fine or bayes ([tune] strategy).")
    ] = None,
    pruner: Annotated[
        str | None, typer.Option(help="none, median or hyperband ([tune] pruner).")
    ] = None,
    max_epochs: Annotated[
        int | None, typer.Option("--max-epochs", help="Epochs per trial ([tune] max_epochs).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(help="Optuna RDB URL shared by workers (default: the project's sqlite)."),
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="Study name (default: [tune] study, or the project's).")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Local worker processes on the study.", min=1, max=64)
    ] = 1,
    dashboard: Annotated[
        bool, typer.Option("--dashboard", help="Serve optuna-dashboard on the storage instead.")
    ] = False,
    port: Annotated[
        int, typer.Option(help="--dashboard: port on 127.0.0.1.", min=1, max=65535)
    ] = 8080,
    worker: Annotated[bool, typer.Option("--worker", hidden=True)] = False,
    worker_index: Annotated[int, typer.Option("--worker-index", hidden=True)] = 0,
    quiet: QuietOpt = False,
) -> None:
    """Tune hyperparameters: every trial a training run, the winner by [metric]."""
    from dlstack.data import snapshot_for
    from dlstack.tune import settle, storage_url, work
    from dlstack.tune import tune as run_study

    proj = settle(
        open_project(project),
        trials=trials,
        strategy=strategy,
        pruner=pruner,
        max_epochs=max_epochs,
    )
    if dashboard:
        _dashboard(storage_url(proj, storage), port)
        return
    _, snapshot = snapshot_for(proj, version, steps=True, progress=not quiet and not worker)
    if worker:
        work(proj, snapshot, storage=storage, study=study, worker=worker_index)
        return
    cfg = proj.config.tune
    if not quiet:
        space = ", ".join(f"{k} {d.describe()}" for k, d in cfg.search_space.items())
        console.print(f"{cfg.strategy} search, {cfg.trials} trials, {workers} worker(s): {space}")
    result = run_study(
        proj,
        snapshot,
        workers=workers,
        storage=storage,
        study=study,
        on_trial=None if quiet else _print_trial,
    )
    _summary(proj, result)


def _print_trial(trial: FrozenTrial) -> None:
    value = "" if trial.value is None else f"{trial.value:.4f}"
    if trial.value is None and trial.intermediate_values:
        last = trial.intermediate_values[max(trial.intermediate_values)]
        value = f"{last:.4f} at epoch {max(trial.intermediate_values)}"
    params = ", ".join(
        f"{k.split('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.', 1)[-1]}={v}"
        for k, v in trial.params.items()
    )
    state = trial.state.name.lower()
    failure = trial.user_attrs.get("failure")
    console.print(
        f"trial {trial.number:>3}  {state:<8}  {value:<20}  {params}"
        + (f"  ({failure})" if failure else ""),
        soft_wrap=True,
    )


def _summary(proj: Project, result: TuneResult) -> None:
    from dlstack.tune import REPORT_FILE, study_dir

    best = result.best
    rows = [
        [
            result.study,
            f"{result.trials}/{result.target_trials}",
            ", ".join(f"{k.lower()} {v}" for k, v in sorted(result.states.items())),
            "-" if best is None else best["number"],
            "-" if best is None else best["value"],
            "-" if best is None else best.get("run_id"),
        ]
    ]
    console.print(
        table(
            f"study ({result.strategy}, {result.direction} {result.monitor})",
            ["study", "finished", "states", "best trial", result.monitor, "run"],
            rows,
        )
    )
    if best is not None:
        params = " ".join(f"--set {k}={v}" for k, v in best["params"].items())
        console.print(f"best: {params}", soft_wrap=True)
        console.print(
            f"retrain it: dlstack train --from-trial {best['number']} --study {result.study}",
            soft_wrap=True,
        )
    report = study_dir(proj, result.study) / REPORT_FILE
    console.print(f"report: {report}", soft_wrap=True)


def _dashboard(url: str, port: int) -> None:
    from dlstack.cli._ui import _check_port_free, run_server
    from dlstack.tune import dashboard_command, redact

    _check_port_free("127.0.0.1", port)
    console.print(
        f"optuna-dashboard on {redact(url)}: http://127.0.0.1:{port}/  (Ctrl-C to stop)",
        soft_wrap=True,
    )
    raise typer.Exit(run_server(dashboard_command(url, port=port), port=port))
