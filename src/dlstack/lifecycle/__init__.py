"""The whole lifecycle on one project, stage by stage, through each stage's public API.

    data (ingest, commit, checkout) -> train -> doctor -> evaluate + baselines -> export
    -> test -> gate -> report

``dlstack run`` (and so ``make demo``) calls :func:`run`; the single-stage verbs call the
functions below it. :func:`lifecycle_report` writes the run's ``report.html``. The release
gate (:func:`release_gate`, ``[gate]`` in dlstack.toml) judges the exported package and
writes its verdict beside it (:func:`dlstack.package.read_gate` reads it).
"""

from dlstack.lifecycle._gate import (
    GATE_HEADERS,
    gate_kind,
    gate_rows,
    judge_release,
    release_gate,
)
from dlstack.lifecycle._report import DEFAULT_MAX_MISTAKES, lifecycle_report
from dlstack.lifecycle._run import (
    DEFAULT_DOCTOR_BUDGET_S,
    LifecycleResult,
    check_run,
    details_of,
    evaluate_run,
    export_run,
    gate_run,
    preflight,
    prepare_data,
    run,
    write_report,
)
from dlstack.lifecycle._verdicts import SUMMARY_HEADERS, summary_headers, summary_rows

__all__ = [
    "DEFAULT_DOCTOR_BUDGET_S",
    "DEFAULT_MAX_MISTAKES",
    "GATE_HEADERS",
    "SUMMARY_HEADERS",
    "LifecycleResult",
    "check_run",
    "details_of",
    "evaluate_run",
    "export_run",
    "gate_kind",
    "gate_rows",
    "gate_run",
    "judge_release",
    "lifecycle_report",
    "preflight",
    "prepare_data",
    "release_gate",
    "run",
    "summary_headers",
    "summary_rows",
    "write_report",
]
