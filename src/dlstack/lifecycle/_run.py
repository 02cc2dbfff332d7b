"""The whole lifecycle on one project, stage by stage, through each stage's public API.

    data (ingest, commit, checkout) -> train -> evaluate + baselines -> export -> test
    -> gate -> report

``dlstack run`` (and so ``make demo``) calls :func:`run`; the single-stage verbs call the
functions below it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data import IngestReport, Snapshot, Version
    from dlstack.evaluate import EvaluationDetails
    from dlstack.package import GateVerdict
    from dlstack.train import TrainResult

__all__ = [
    "DEFAULT_DOCTOR_BUDGET_S",
    "LifecycleResult",
    "check_run",
    "details_of",
    "evaluate_run",
    "export_run",
    "gate_run",
    "prepare_data",
    "run",
    "write_report",
]


@dataclass
class LifecycleResult:
    version: Version
    snapshot: Snapshot
    result: TrainResult
    evaluation: Any
    baselines: list[Any]
    package: Path
    report: Path
    ingest: IngestReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    tests: Any = None  # dlstack.evaluate.EvalTestReport of the exported package
    details: EvaluationDetails | None = None  # model and baselines under the objective
    gate: GateVerdict | None = None  # the release gate's verdict (gate.json of the package)


def prepare_data(
    project: Project, *, progress: bool = True
) -> tuple[IngestReport, Version, Snapshot]:
    """Ingest the configured source, commit it if it changed, and check out HEAD."""
    from dlstack.data import DataRepo

    cfg = project.config.data
    repo = DataRepo.open(project)
    try:
        report = repo.ingest(project.source, split=cfg.split, seed=cfg.seed, progress=progress)
        if report.changed:
            repo.commit(f"ingest {cfg.source}")
        version, snapshot = repo.checkout("HEAD", progress=progress)
        snapshot, _ = repo.run_steps(snapshot, project)
    finally:
        repo.close()
    return report, version, snapshot


def preflight(project: Project, snapshot: Snapshot) -> None:
    """What ``[metric]`` and ``[tests]`` name, checked against the data before training."""
    from dlstack.evaluate import check_project_data

    check_project_data(project, snapshot)


def evaluate_run(
    result: TrainResult, snapshot: Snapshot, project: Project | None = None
) -> tuple[Any, list[Any]]:
    """Test-split evaluation and baselines; with ``project``, every baseline its
    ``[metric.baselines]`` asks for (rules, neural network), else the two fast ones."""
    from dlstack.evaluate import baselines, evaluate, project_baselines

    evaluation = evaluate(result.model, snapshot, result.normalization, split="test")
    if project is not None:
        found, _ = project_baselines(project, snapshot, split="test", seed=result.config.train.seed)
        return evaluation, found
    return evaluation, baselines(snapshot, split="test", seed=result.config.train.seed)


def check_run(project: Project, package: Path) -> Any:
    """`dlstack test` on a freshly exported package (results saved for `dlstack score`)."""
    from dlstack.evaluate import check_package

    return check_package(project, package)


def export_run(project: Project, result: TrainResult, snapshot: Snapshot, evaluation: Any) -> Path:
    from dlstack.compress import export_package

    sample = result.normalization.model_input(snapshot.split("test").rows(0, 64))
    return export_package(
        result,
        project.models_dir,
        project.config.project.name,
        sample=sample,
        metrics=dict(evaluation.metrics),
        train=snapshot.split("train"),  # its range: serving warns on inputs far outside it
    )


def details_of(
    project: Project, evaluation: Any, baseline_results: list[Any], tests: Any = None
) -> EvaluationDetails:
    """The model and its baselines under the project's objective, with the package's
    measured latency and size (from ``tests``) so [metric] constraints on them are checked."""
    from dlstack.evaluate import evaluation_details

    measured = {
        k: v
        for k, v in (tests.metrics if tests is not None else {}).items()
        if k.startswith("latency_") or k == "size_mb"
    }
    return evaluation_details(project, evaluation, baseline_results, extra_metrics=measured)


def write_report(
    project: Project,
    version: Version,
    snapshot: Snapshot,
    result: TrainResult,
    evaluation: Any,
    baseline_results: list[Any],
    package: Path,
    tests: Any = None,
    doctor_html: Path | None = None,
    details: EvaluationDetails | None = None,
    gate: GateVerdict | None = None,
) -> Path:
    """report.html with the evaluate stage's parts: objective, reference points, slices,
    threshold (written to evaluation.json too), ``tests`` of the package, the latest saved
    `dlstack scope`, the release ``gate``, and the ML Test Score as of now. ``details`` default:
    :func:`details_of` the evaluation."""
    from dlstack.evaluate import score_project, write_evaluation_record
    from dlstack.layout import REPORT_FILE
    from dlstack.lifecycle._report import lifecycle_report

    if details is None:
        details = details_of(project, evaluation, baseline_results, tests)
    write_evaluation_record(result.run_dir, details, baseline_results)
    score = score_project(project)
    score.write_json(project)
    links = {}
    if doctor_html is not None:
        links["Doctor report"] = os.path.relpath(doctor_html, result.run_dir)
    links.update(_tuning_links(project, result.run_dir))
    return lifecycle_report(
        result.run_dir / REPORT_FILE,
        project_name=project.config.project.name,
        snapshot_counts=snapshot.counts(),
        data_version=version.id,
        result=result,
        evaluation=evaluation,
        baselines=baseline_results,
        package_path=package,
        details=details,
        scope=_saved_scope(project),
        eval_tests=tests.to_dict() if tests is not None else None,
        test_score=score.to_dict(),
        links=links or None,
        gate=gate,
    )


def _saved_scope(project: Project) -> dict[str, Any] | None:
    """The latest `dlstack scope` result, if it was run (it is not part of `run`: minutes)."""
    from dlstack.evaluate import saved_scope

    record = saved_scope(project)
    return record.model_dump(mode="json") if record is not None else None


def gate_run(project: Project, package: Path, tests: Any, details: Any, doctor: Any) -> GateVerdict:
    """The release gate on the exported package, written beside it (``gate.json``)."""
    from dlstack.lifecycle._gate import release_gate

    return release_gate(project, package, tests=tests, details=details, doctor=doctor)


DEFAULT_DOCTOR_BUDGET_S = 60.0  # the doctor's short trainings, on top of the real one


def run(
    project: Project,
    *,
    progress: bool = True,
    on_stage: Callable[[str, Any], None] | None = None,
    doctor_budget_s: float | None = DEFAULT_DOCTOR_BUDGET_S,
) -> LifecycleResult:
    """Data -> train -> doctor -> evaluate -> export -> test -> gate -> report, on the
    project's config.

    ``on_stage(name, output)`` is called as each stage finishes (the CLI prints there).
    ``doctor_budget_s=None`` skips the doctor (the troubleshooting checks of dlstack.doctor).
    The release gate's verdict is ``LifecycleResult.gate`` (also written beside the
    package); a failed gate does not raise: the caller decides (`dlstack run` exits 1).
    """
    from dlstack.lifecycle._record import record_in_mlflow
    from dlstack.train import fit

    seconds: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        out = fn()
        seconds[name] = time.perf_counter() - t
        if on_stage is not None:
            on_stage(name, out)
        return out

    report, version, snapshot = stage("data", lambda: prepare_data(project, progress=progress))
    preflight(project, snapshot)
    result = stage("train", lambda: fit(project, snapshot, progress=progress))
    doctor_report, doctor_html = None, None
    if doctor_budget_s is not None:
        from dlstack.doctor import examine_project

        def say(text: str) -> None:
            print(f"doctor: {text}", file=sys.stderr, flush=True)

        doctor_report, doctor_html = stage(
            "doctor",
            lambda: examine_project(
                project, snapshot, budget_s=doctor_budget_s, progress=say if progress else None
            ),
        )
    evaluation, baseline_results = stage(
        "evaluate", lambda: evaluate_run(result, snapshot, project)
    )
    package = stage("export", lambda: export_run(project, result, snapshot, evaluation))
    tests = stage("test", lambda: check_run(project, package))
    details = details_of(project, evaluation, baseline_results, tests)
    gate = stage("gate", lambda: gate_run(project, package, tests, details, doctor_report))
    html = stage(
        "report",
        lambda: write_report(
            project,
            version,
            snapshot,
            result,
            evaluation,
            baseline_results,
            package,
            tests,
            doctor_html,
            details,
            gate,
        ),
    )
    out = LifecycleResult(
        version,
        snapshot,
        result,
        evaluation,
        baseline_results,
        package,
        html,
        report,
        seconds,
        tests,
        details,
        gate,
    )
    stage("record", lambda: record_in_mlflow(project, out, doctor_html))  # MLflow, last
    return out


def _tuning_links(project: Project, run_dir: Path) -> dict[str, str]:
    """Each study's report.html (`dlstack tune`), relative to the run's report."""
    from dlstack.tune import REPORT_FILE, study_dir, tune_results

    links = {}
    for result in tune_results(project):
        html = study_dir(project, result.study) / REPORT_FILE
        if html.is_file():
            links[f"Tuning: {result.study}"] = os.path.relpath(html, run_dir)
    return links
