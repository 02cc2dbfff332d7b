"""`dlstack init`, `dlstack run` (the whole lifecycle), `dlstack ui` (in ``_ui``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlstack.cli._common import (
    ProjectOpt,
    QuietOpt,
    console,
    err_console,
    open_project,
    styled,
    table,
)
from dlstack.cli._ui import ui

if TYPE_CHECKING:
    from dlstack.data import IngestReport
    from dlstack.evaluate import EvaluationDetails
    from dlstack.package import GateVerdict


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command(name="run")(run_lifecycle)
    app.command()(ui)


def init(
    directory: Annotated[Path, typer.Argument(help="Project directory (created if missing).")],
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="builtin:digits, builtin:digits8, builtin:lines (handwritten number lines), "
            "or a folder of class subfolders.",
        ),
    ] = "builtin:digits",
    name: Annotated[str | None, typer.Option(help="Project name.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing dlstack.toml.")] = False,
) -> None:
    """Write a dlstack.toml with the practice's defaults."""
    from dlstack.config import CONFIG_FILE, init_project

    project = init_project(directory, source, name=name, force=force)
    console.print(f"wrote {project.root / CONFIG_FILE}; next: `dlstack run -p {directory}`")


def run_lifecycle(
    project: ProjectOpt = Path("."),
    quiet: QuietOpt = False,
    doctor_budget: Annotated[
        float, typer.Option(help="Seconds for the doctor's checks (0 skips the doctor).")
    ] = 60.0,
) -> None:
    """Run the whole lifecycle: data -> train -> doctor -> evaluate -> export -> test -> gate
    -> report. Exits 1 when a gate that [gate] requires failed (the package is marked so)."""
    from dlstack import lifecycle

    proj = open_project(project)

    def on_stage(name: str, output: Any) -> None:
        if name == "data":
            report, version, snapshot = output
            print_ingest(report)
            console.print(
                f"data version {version.short}: "
                + ", ".join(f"{k} {v}" for k, v in snapshot.counts().items())
            )
        elif name == "train":
            console.print(
                f"run {output.run_id}: {len(output.history)} epochs, "
                f"best checkpoint {output.best_checkpoint.name}"
            )
        elif name == "record" and output is not None:  # None: not tracked, or warned why
            console.print(
                f"MLflow: registered {output.name} version {output.version} as "
                f"{output.alias} (MLflow run {output.run_id})",
                soft_wrap=True,
            )

    out = lifecycle.run(
        proj, progress=not quiet, on_stage=on_stage, doctor_budget_s=doctor_budget or None
    )
    print_evaluation(
        out.evaluation,
        out.baselines,
        title=f"test set of data version {out.version.short} ({out.evaluation.n} examples)",
        details=out.details,
    )
    console.print(
        table(
            "stages",
            ["stage", "seconds"],
            [[k, f"{v:.1f}"] for k, v in out.seconds.items()]
            + [["total", f"{sum(out.seconds.values()):.1f}"]],
        )
    )
    console.print(f"model package: {out.package}")
    console.print(styled("report: [bold]{path}[/]", path=out.report))
    if out.gate is not None:
        print_gate(out.gate)
        fail_on_gate(out.gate)


def print_ingest(report: IngestReport) -> None:
    console.print(
        f"ingest {report.source}: {report.seen} seen, {report.added} added, "
        f"{report.unchanged} unchanged, {report.duplicates} duplicates, "
        f"{len(report.rejected)} rejected"
        + (
            f", {report.replaced} replaced (composed with earlier settings)"
            if report.replaced
            else ""
        )
    )
    for item, reason in report.rejected[:20]:
        err_console.print(f"  rejected {item}: {reason}", highlight=False)
    if len(report.rejected) > 20:
        err_console.print(f"  ... and {len(report.rejected) - 20} more")
    if report.inferred:
        console.print("image input inferred (declare [data.image] to change it):")
        for line in report.inferred:
            console.print(f"  {line}")
    if report.to_grayscale:
        console.print(
            f"  {report.to_grayscale} color images will be converted to grayscale "
            f"(data.image.channels = 1)"
        )


def print_evaluation(
    evaluation: Any,
    baselines: list[Any],
    *,
    title: str,
    details: EvaluationDetails | None = None,
) -> None:
    """The model and its baselines; the verdicts are the objective's ranking (``details``,
    else the default objective's)."""
    from dlstack.lifecycle import summary_headers, summary_rows

    rows = [list(r) for r in summary_rows(evaluation, baselines, details)]
    console.print(table(title, list(summary_headers(evaluation.task)), rows))


_GATE_STYLE = {"good": "green", "bad": "bold red", "warn": "yellow", "info": "dim"}


def print_gate(verdict: GateVerdict) -> None:
    """The release gate: one line per gate (PASS, FAIL, not run) and the decision."""
    from dlstack.lifecycle import GATE_HEADERS, gate_kind, gate_rows

    rows: list[list[Any]] = []
    for check, row in zip(verdict.gates, gate_rows(verdict), strict=True):
        style = _GATE_STYLE[gate_kind(check)]
        rows.append([row[0], row[1], styled(f"[{style}]{{v}}[/]", v=row[2]), row[3]])
    title = f"release gate of {verdict.name} v{verdict.version}"
    console.print(table(title, list(GATE_HEADERS), rows))
    line = f"release gate: {verdict.name} v{verdict.version} {verdict.summary()}"
    console.print(styled("[green]{t}[/]" if verdict.passed else "[bold red]{t}[/]", t=line))


def fail_on_gate(verdict: GateVerdict) -> None:
    """Exit 1 (CheckFailed) when a required gate failed, saying what to do."""
    from dlstack.errors import CheckFailed

    if verdict.passed:
        return
    raise CheckFailed(
        f"the release gate failed for {verdict.name} v{verdict.version}: "
        + "; ".join(f"{g.name}: {g.detail}" for g in verdict.failed)
        + ". The package is marked failed (gate.json) and `dlstack serve` will not serve it "
        "by default; fix what failed and run again, or change [gate] required in dlstack.toml"
    )
