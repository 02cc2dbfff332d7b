"""The whole lifecycle on one project, stage by stage, through each stage's public API.

    data (ingest, commit, checkout) -> train -> doctor -> evaluate + baselines -> export
    -> test -> report

``dlstack run`` (and so ``make demo``) calls :func:`run`; the single-stage verbs call the
functions below it. :func:`lifecycle_report` writes the run's ``report.html``.
"""

from dlstack.lifecycle._report import DEFAULT_MAX_MISTAKES, lifecycle_report
from dlstack.lifecycle._run import (
    DEFAULT_DOCTOR_BUDGET_S,
    LifecycleResult,
    check_run,
    details_of,
    evaluate_run,
    export_run,
    preflight,
    prepare_data,
    run,
    write_report,
)
from dlstack.lifecycle._verdicts import SUMMARY_HEADERS, summary_rows

__all__ = [
    "DEFAULT_DOCTOR_BUDGET_S",
    "DEFAULT_MAX_MISTAKES",
    "SUMMARY_HEADERS",
    "LifecycleResult",
    "check_run",
    "details_of",
    "evaluate_run",
    "export_run",
    "lifecycle_report",
    "preflight",
    "prepare_data",
    "run",
    "summary_rows",
    "write_report",
]
