"""`dlstack scope`, `dlstack test` and `dlstack score`: feasibility, evaluation tests and
production readiness (the evaluate stage beyond `dlstack evaluate`, whose output is in
``_evaluation``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlstack.cli._common import ProjectOpt, QuietOpt, console, fmt, open_project, styled, table
from dlstack.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    from dlstack.evaluate import ComputeEstimate, EvalTestReport, ScopeResult, TestScore


def register(app: typer.Typer) -> None:
    app.command()(scope)
    app.command(name="test")(test_package)
    app.command()(score)


def scope(
    project: ProjectOpt = Path("."),
    version: Annotated[str, typer.Option(help="Data version to measure on.")] = "HEAD",
    fractions: Annotated[
        str,
        typer.Option(help="Comma-separated shares of the train split, e.g. 0.1,0.2,0.4,1."),
    ] = "0.05,0.1,0.2,0.35,0.6,1",
    epochs: Annotated[
        int, typer.Option(min=1, help="Short training rounds per subset (not max_epochs).")
    ] = 5,
    architecture: Annotated[
        str | None, typer.Option(help="Override [model] architecture; 'mlp' is fastest.")
    ] = None,
    requirement: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Required accuracy (default: metric.requirement)."),
    ] = None,
    gpus: Annotated[
        Path | None, typer.Option(help="GPU table (TOML); default: ./gpus.toml or the bundled.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Feasibility: learning curve on growing data fractions, data needed, compute cost."""
    from dlstack.data import snapshot_for
    from dlstack.evaluate import scope as run_scope
    from dlstack.evaluate import scope_report, write_scope_record

    proj = open_project(project)
    try:
        shares = [float(f) for f in fractions.split(",") if f.strip()]
    except ValueError:
        raise ConfigError(
            f"--fractions must be comma-separated numbers in (0, 1], got {fractions!r}"
        ) from None
    _, snapshot = snapshot_for(proj, version, progress=not quiet)

    def on_point(p: Any) -> None:
        if not quiet:
            console.print(
                f"  {p.fraction:>5.0%} of train = {p.n_train:>6,} examples: error "
                f"{p.error:.4f} ({p.seconds:.1f} s)",
                highlight=False,
            )

    result = run_scope(
        proj,
        snapshot,
        fractions=shares,
        epochs=epochs,
        architecture=architecture,
        requirement=requirement,
        gpu_table=str(gpus) if gpus else None,
        on_point=on_point,
    )
    path = write_scope_record(proj, result)
    html = scope_report(
        path.with_suffix(".html"), result.to_dict(), project_name=proj.config.project.name
    )
    print_scope(result)
    console.print(styled("report: [bold]{html}[/]", html=html))


def print_scope(result: ScopeResult) -> None:
    fit = result.fit
    if fit is not None:
        # A fitted floor of 1e-16 prints as "0.00%": say it is about zero, and what it is.
        floor = f"{fit.c:.2%}" if fit.c >= 5e-5 else f"about 0: c = {fit.c:.2g}"
        console.print(
            f"learning curve: err(n) = {fit.a:.4g} * n^-{fit.b:.4f} + {fit.c:.4g} "
            f"(irreducible error {floor})",
            highlight=False,
        )
        console.print(
            table(
                "more data",
                ["data", "expected error", "80% band"],
                [
                    [f"{f:g}x ({result.n_train * f:,.0f})", f"{e:.2%}", f"{lo:.2%} - {hi:.2%}"]
                    for f, e, lo, hi in result.more_data
                ],
            )
        )
    if result.needed is not None:
        color = "green" if result.needed.reachable else "red"
        console.print(
            styled(
                f"[{color}]requirement accuracy {result.requirement:.2%}:[/] {{needed}}",
                needed=result.needed.describe(),
            )
        )
    for note in result.notes:
        console.print(styled("[yellow]note:[/] {note}", note=note))
    c = result.compute
    if c is not None:
        print_compute(result)


def print_compute(result: ScopeResult) -> None:
    """Time and cost here and on each GPU, for today's train split and, when the
    requirement is reachable, for the data it needs (same epochs, more examples)."""
    from dlstack.report import duration

    c, need = result.compute, result.compute_needed
    assert c is not None
    console.print(
        f"here: {duration(c.seconds_per_epoch)} per epoch of {c.examples_per_epoch:,} "
        f"examples; GPU prices as of {c.table.as_of} ({c.table.path})",
        highlight=False,
    )
    columns = ["GPU", "s/epoch", "total", "USD", "x faster", "bound"]
    rows: list[list[Any]] = [
        [
            r.gpu.name,
            duration(r.seconds_per_epoch),
            duration(r.seconds_total),
            f"{r.usd_total:.4f}",
            f"{r.speedup:.1f}",
            r.bound,
        ]
        for r in c.rows
    ]
    title = f"estimated for {c.epochs} epochs (train.max_epochs) of {c.examples_per_epoch:,}"
    if need is not None:
        console.print(
            f"here, for the {need.n_train:,} examples the requirement needs "
            f"({need.factor:,.1f}x): {duration(need.estimate.seconds_per_epoch)} per epoch, "
            f"{duration(need.estimate.seconds_total)} in all",
            highlight=False,
        )
        title += f" examples (today) and {need.n_train:,} (the requirement's)"
        columns += ["total needed", "USD needed (band)"]
        n_gpus = len(need.estimate.rows)
        lows, highs = _usd(need.low, n_gpus), _usd(need.high, n_gpus)
        for row, r, lo, hi in zip(rows, need.estimate.rows, lows, highs, strict=True):
            row += [duration(r.seconds_total), f"{r.usd_total:.4f} ({lo} - {hi})"]
    else:
        title += " examples (today)"
    console.print(table(title, columns, rows))


def _usd(estimate: ComputeEstimate | None, n_gpus: int) -> list[str]:
    """Each GPU's cost at one end of the band; '?' where the band has no finite end (some
    plausible curves never reach the requirement)."""
    if estimate is None:
        return ["?"] * n_gpus
    return [f"{r.usd_total:.4f}" for r in estimate.rows]


def test_package(
    package: Annotated[Path, typer.Argument(help="A model package directory (or its name dir).")],
    project: ProjectOpt = Path("."),
    data: Annotated[
        str | None,
        typer.Option(help="Data version to test on (default: the package's own)."),
    ] = None,
    save: Annotated[bool, typer.Option(help="Save the results for `dlstack score`.")] = True,
) -> None:
    """Run the evaluation tests (\\[tests] in dlstack.toml) on a package; exit 1 on failure."""
    from dlstack.evaluate import check_package, eval_tests_report

    proj = open_project(project)
    report = check_package(proj, package, version=data, write=save)
    print_tests(report)
    if report.path is not None:
        html = eval_tests_report(
            report.path.with_suffix(".html"),
            report.to_dict(),
            project_name=proj.config.project.name,
        )
        console.print(f"results: {report.path} ({html.name})")
    if not report.passed:
        names = ", ".join(c.name for c in report.failures)
        raise CheckFailed(f"{len(report.failures)} of {len(report.checks)} checks failed: {names}")


def print_tests(report: EvalTestReport) -> None:
    rows = [
        [
            styled("[green]held[/]") if c.passed else styled("[red]FAILED[/]"),
            c.name,
            fmt(c.measured),
            fmt(c.limit),
            c.detail,
        ]
        for c in report.checks
    ]
    console.print(
        table(
            f"{report.name} v{report.version} on {report.split} of data version "
            f"{report.data_version[:12]} ({report.n} examples)",
            ["", "check", "measured", "limit", "detail"],
            rows,
        )
    )


def score(
    project: ProjectOpt = Path("."),
    list_tests: Annotated[
        bool, typer.Option("--list", help="List the 28 test ids (for [score.manual]) and exit.")
    ] = False,
    minimum: Annotated[
        float | None, typer.Option("--min", help="Exit 1 when the final score is below this.")
    ] = None,
) -> None:
    """Grade the project on the 28 tests of "The ML Test Score" from its artifacts."""
    from dlstack.evaluate import rubric, score_project, score_report

    if list_tests:
        console.print(
            table("ML Test Score tests", ["id", "section", "test"], [list(t) for t in rubric()])
        )
        return
    proj = open_project(project)
    result = score_project(proj)
    path = result.write_json(proj)
    html = score_report(
        path.with_suffix(".html"), result.to_dict(), project_name=proj.config.project.name
    )
    print_score(result)
    console.print(styled("report: [bold]{html}[/]", html=html))
    if minimum is not None and result.final < minimum:
        raise CheckFailed(f"ML Test Score {result.final:g} is below the required {minimum:g}")


def print_score(result: TestScore) -> None:
    marks = {1.0: styled("[green]1[/]"), 0.5: styled("[yellow]0.5[/]"), 0.0: styled("[dim]0[/]")}
    console.print(
        table(
            "ML Test Score",
            ["points", "id", "evidence / what to add"],
            [
                [marks.get(x.points, str(x.points)), x.id, x.evidence or f"add: {x.advice}"]
                for x in result.lines
            ],
        )
    )
    sums = ", ".join(f"{k} {v:g}" for k, v in result.sections.items())
    console.print(f"sections: {sums}", highlight=False)
    console.print(
        styled(
            f"[bold]final score {result.final:g}[/] (lowest section): {{band}}", band=result.band
        )
    )
