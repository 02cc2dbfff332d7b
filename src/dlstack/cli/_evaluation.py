"""What `dlstack evaluate` (registered in ``_model``) prints and refreshes: the lifecycle
report's evaluation tables under the objective, and the run's report.html rewritten."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.cli._common import console, styled, table

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data import Snapshot, Version
    from dlstack.evaluate import (
        BaselineResult,
        EvalTestRecord,
        Evaluation,
        EvaluationDetails,
    )
    from dlstack.package import GateVerdict
    from dlstack.train import TrainResult


_VERDICT_STYLE = {"good": "green", "bad": "bold red", "warn": "yellow"}


def report_evaluation(
    proj: Project,
    result: TrainResult,
    version: Version,
    snapshot: Snapshot,
    evaluation: Evaluation,
    baselines: list[BaselineResult],
) -> Path:
    """`dlstack evaluate`'s output: the report's evaluation tables (the model, its
    baselines, the reference points and the human baseline, ranked under the objective),
    then the run's report.html rewritten from this evaluation by the function `dlstack run`
    uses (:func:`dlstack.lifecycle.write_report`, which also rewrites evaluation.json).

    The run's package, its saved `dlstack test` results, its release gate and the doctor's
    report are found on disk, so the refreshed report keeps the sections the run wrote."""
    from dlstack.layout import REPORT_FILE
    from dlstack.lifecycle import details_of, write_report

    package = run_package(proj, result.run_id)
    tests = saved_tests(proj, package)
    details = details_of(proj, evaluation, baselines, tests)
    print_evaluation_tables(
        evaluation,
        baselines,
        details,
        title=f"run {result.run_id} on data version {version.short} "
        f"({evaluation.split}, {evaluation.n} examples)",
    )
    doctor_html = proj.doctor_dir / REPORT_FILE
    html = write_report(
        proj,
        version,
        snapshot,
        result,
        evaluation,
        baselines,
        package,  # type: ignore[arg-type]  # None: "not exported yet" in the report
        tests,
        doctor_html if doctor_html.is_file() else None,
        details,
        _gate(package),
    )
    console.print(styled("report: [bold]{html}[/]", html=html))
    return html


def print_evaluation_tables(
    evaluation: Evaluation,
    baselines: list[BaselineResult],
    details: EvaluationDetails,
    *,
    title: str,
) -> None:
    """The objective, then the report's "Baselines vs model" table (same rows, same
    verdicts: :func:`dlstack.lifecycle.summary_rows`), then its reference points."""
    from dlstack.lifecycle import summary_headers, summary_rows

    s = details.model_score
    state = "[green]meets every constraint[/]" if s.feasible else "[red]{violations}[/]"
    console.print(
        styled(
            f"objective: {{objective}}; the model scores {s.value:.4f} ({state})",
            objective=details.objective.describe(),
            violations=s.describe(),
        )
    )
    headers = list(summary_headers(evaluation.task))
    rows: list[list[Any]] = []
    what = ["the trained model", *(b.description for b in baselines)]
    for i, row in enumerate(summary_rows(evaluation, baselines, details)):
        cells: list[Any] = [row[0], what[i], *row[1:-1]]
        if i == 0:
            cells.append("")
        else:
            style = _VERDICT_STYLE[_verdict_kind(details, baselines[i - 1].name)]
            cells.append(styled(f"[{style}]{{v}}[/]", v=row[-1]))
        rows.append(cells)
    console.print(table(title, [headers[0], "what it is", *headers[1:]], rows))
    print_details(details, objective=False)


def _verdict_kind(details: EvaluationDetails, name: str) -> str:
    """The colour of a baseline's verdict: the objective's ranking, as the report's."""
    if name in details.not_beaten:
        return "bad"
    ranked = {r.name for r in details.ranking}
    return "good" if name in ranked and "model" in ranked else "warn"


def run_package(proj: Project, run_id: str) -> Path | None:
    """The newest package version exported from run ``run_id``; None when there is none."""
    from dlstack.package import ModelRepository

    found = [
        path
        for path, spec in ModelRepository(proj.models_dir).specs()
        if spec is not None and spec.run_id == run_id
    ]
    return max(found, key=lambda p: int(p.name)) if found else None


@dataclass(frozen=True)
class SavedTests:
    """A saved `dlstack test` result as the lifecycle report takes one (``metrics``, and
    ``to_dict`` for its section)."""

    record: EvalTestRecord

    @property
    def metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.record.metrics.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.record.model_dump(mode="json")
        return data


def saved_tests(proj: Project, package: Path | None) -> SavedTests | None:
    """The newest saved `dlstack test` result of ``package`` (by name and version: the
    path it was tested at may be another, if the project moved)."""
    from dlstack.errors import PackageError
    from dlstack.evaluate import latest_results
    from dlstack.package import SPEC_FILE, read_spec

    if package is None:
        return None
    try:
        spec = read_spec(package / SPEC_FILE)
    except PackageError:
        return None
    for record in latest_results(proj):
        if (record.name, record.version) == (spec.name, spec.version):
            return SavedTests(record)
    return None


def _gate(package: Path | None) -> GateVerdict | None:
    from dlstack.errors import PackageError
    from dlstack.package import read_gate

    if package is None:
        return None
    try:
        return read_gate(package)
    except PackageError as e:  # a damaged gate.json: the report goes without that section
        console.print(styled("[yellow]note:[/] release gate not shown: {e}", e=e))
        return None


def print_details(details: EvaluationDetails, *, objective: bool = True) -> None:
    """The objective, reference points and operating threshold (for `dlstack evaluate`)."""
    s = details.model_score
    if objective:
        verdict = "[green](meets constraints)[/]" if s.feasible else "[red]({violations})[/]"
        console.print(
            styled(
                f"objective: {{objective}} -> {s.value:.4f} {verdict}",
                objective=details.objective.describe(),
                violations=s.describe(),
            )
        )
    rows: list[list[Any]] = []
    for ref, beaten, text in details.reference_rows():
        style = "yellow" if beaten is None else "green" if beaten else "bold red"
        rows.append(
            [
                ref.name,
                ref.kind,
                ", ".join(f"{k} {v:.4f}" for k, v in ref.metrics.items()),
                ref.note,
                styled(f"[{style}]{{v}}[/]", v=text),
            ]
        )
    if rows:
        console.print(
            table(
                "reference points (published, required, human)",
                ["reference", "kind", "metrics", "source", "model"],
                rows,
            )
        )
    else:
        console.print(
            styled(
                "[dim]no reference points: add {fix} to compare with[/]",
                fix="[[metric.baselines.external]], [metric] requirement, or a human "
                "baseline ([metric.baselines] human_error, or gold labels in `dlstack label`)",
            )
        )
    t = details.threshold
    if t is not None:
        console.print(
            f"operating threshold for {t.positive_label!r}: {t.threshold:.4f} "
            f"(precision "
            f"{t.metrics['precision']:.4f}, recall {t.metrics['recall']:.4f})",
            highlight=False,
        )
