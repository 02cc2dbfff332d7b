"""`dlstack doctor`: troubleshoot a model the way the practice does, and say what is wrong.

    dlstack doctor -p PROJECT         the project's model on its data (HEAD)
    dlstack doctor FILE.py            a file defining model(), data() and maybe loss_fn

Exit code 0 when the examination is healthy, 1 when it found errors or warnings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlstack.cli._common import ProjectOpt, QuietOpt, console, open_project, styled, table

if TYPE_CHECKING:
    from dlstack.doctor import Report

_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def register(app: typer.Typer) -> None:
    app.command()(doctor)


def doctor(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A Python file that defines model() and data() (and optionally loss_fn, task, "
            "human_error, optimizer, lr). Without it: the project's model and data.",
            show_default=False,
        ),
    ] = None,
    project: ProjectOpt = Path("."),
    budget: Annotated[
        float,
        typer.Option(
            "--budget",
            "-b",
            help="Seconds for the doctor's own trainings (a target, not a hard limit).",
        ),
    ] = 120.0,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed (default: the project's train seed, or 0 for a file)."),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Learning rate to examine (default: the project's, the file's, or Adam 3e-4)."
        ),
    ] = None,
    human_error: Annotated[
        float | None,
        typer.Option(
            "--human-error",
            help="Irreducible (human-level) error rate, for the bias-variance table.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Where to write the HTML report (a .json is written beside it)."
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Troubleshoot a model: make it run, overfit one batch, lr range test, baselines,
    bias-variance, and a prioritized plan."""
    progress, status = _progress(quiet)
    try:
        if file is None:
            report, html = _on_project(project, budget, seed, lr, human_error, out, progress)
        else:
            report, html = _on_file(file, budget, seed, lr, human_error, out, progress)
    finally:
        if status is not None:
            status.stop()
    print_report(report)
    console.print(styled("report: [bold]{html}[/]", html=html))
    if not report.healthy:
        raise typer.Exit(1)


def _on_project(
    path: Path,
    budget: float,
    seed: int | None,
    lr: float | None,
    human_error: float | None,
    out: Path | None,
    progress: Any,
) -> tuple[Report, Path]:
    from dlstack.doctor import examine_project

    proj = open_project(path)
    report, html = examine_project(
        proj,
        budget_s=budget,
        seed=seed,
        lr=lr,
        human_error=human_error,
        out_dir=out.parent if out else None,
        progress=progress,
    )
    if out is not None and html != out:
        html = report.to_html(out)
    return report, html


def _on_file(
    file: Path,
    budget: float,
    seed: int | None,
    lr: float | None,
    human_error: float | None,
    out: Path | None,
    progress: Any,
) -> tuple[Report, Path]:
    from dlstack.doctor import examine_file

    options: dict[str, Any] = {"budget_s": budget, "progress": progress}
    if seed is not None:
        options["seed"] = seed
    if lr is not None:
        options["lr"] = lr
    if human_error is not None:
        options["human_error"] = human_error
    report = examine_file(file, **options)
    html = out or file.with_suffix(".doctor.html")
    report.to_json(html.with_suffix(".json"))
    return report, report.to_html(html)


def _progress(quiet: bool) -> tuple[Any, Any]:
    if quiet:
        return None, None
    status = console.status("dlstack doctor: starting")
    status.start()
    return (lambda text: status.update(f"dlstack doctor: {text}")), status


def print_report(report: Report) -> None:
    """The verdict, the findings (most severe first), the plan, the bias-variance table."""
    head = report.summary().splitlines()[0]
    color = "green" if report.healthy else "red"
    console.print(styled(f"[bold {color}]{{head}}[/]", head=head))
    active = [f for f in report.ranked() if f.severity != "info"]
    if active:
        rows = [
            [styled(f"[{_STYLE[f.severity]}]{{s}}[/]", s=f.severity), f.code, f.title]
            for f in active
        ]
        console.print(table("findings", ["severity", "code", "what"], rows))
    plan = [[str(i), s.title, "; ".join(s.actions[:2])] for i, s in enumerate(report.plan, 1)]
    console.print(table("plan", ["", "step", "first actions"], plan))
    if report.bias_variance is not None:
        rows = [
            [name, "n/a" if v is None else f"{v:.2%}", how]
            for name, v, how in report.bias_variance.rows()
        ]
        metric = report.bias_variance.metric  # "error", or "CER" for a line reader
        console.print(table("bias-variance", ["", metric, "how"], rows))
    for line in report.skipped:
        console.print(styled("[dim]skipped {line}[/]", line=line))
