"""Evaluate: metrics, one objective, baselines, feasibility, evaluation tests, ML Test Score.

>>> from dlstack.data import Snapshot
>>> from dlstack.evaluate import baselines
>>> snap = Snapshot.from_builtin("digits8")
>>> {b.name: round(b.metrics["accuracy"], 1) for b in baselines(snap)}["majority"]
0.1

- metrics (torchmetrics): :func:`classification_metrics`, :func:`pr_curve`,
  :func:`roc_curve`, :func:`transcription_metrics`, :func:`slice_metrics`;
- one objective: :class:`Objective` (``[metric]``), :func:`choose_threshold`;
- baselines: :func:`baselines`, :func:`baseline_suite`, :func:`project_baselines`,
  :func:`register_rule`, :class:`Reference`;
- feasibility: :func:`fit_power_law`, :func:`scope`, :func:`estimate_compute`;
- evaluation tests: :func:`check_package`, :func:`run_eval_tests`, :func:`perturb`
  (and the pytest plugin ``dlstack.evaluate.pytest_plugin``);
- production readiness: :func:`score_project` (The ML Test Score).

Names resolve lazily: importing this package imports numpy but neither torch nor
scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack._lazy import lazy_attribute

if TYPE_CHECKING:
    from dlstack.evaluate._baselines import (
        BaselineResult,
        baseline_suite,
        baselines,
        project_baselines,
    )
    from dlstack.evaluate._compute import (
        ComputeEstimate,
        GpuTable,
        estimate_compute,
        load_gpu_table,
    )
    from dlstack.evaluate._details import (
        EvaluationDetails,
        evaluation_details,
        write_evaluation_record,
    )
    from dlstack.evaluate._evaltests import (
        EvalCheck,
        EvalData,
        EvalTestReport,
        check_package,
        eval_data,
        run_eval_tests,
    )
    from dlstack.evaluate._evaluation import DEFAULT_EVAL_BATCH_SIZE, Evaluation, evaluate
    from dlstack.evaluate._feasibility import ScopeResult, scope
    from dlstack.evaluate._learning_curve import DataNeeded, PowerLawFit, fit_power_law
    from dlstack.evaluate._mltestscore import ScoreLine, TestScore, rubric, score_project
    from dlstack.evaluate._perturbations import perturb
    from dlstack.evaluate._references import Reference
    from dlstack.evaluate._report import (
        eval_tests_report,
        eval_tests_section,
        objective_section,
        references_section,
        scope_report,
        scope_section,
        score_report,
        score_section,
        slices_section,
        threshold_section,
    )
    from dlstack.evaluate._rules import register_rule
    from dlstack.evaluate._slices import SliceResult, slice_metrics
    from dlstack.evaluate._threshold import ThresholdChoice, choose_threshold
    from dlstack.metrics import (
        ClassificationMetrics,
        Curve,
        classification_metrics,
        pr_curve,
        roc_curve,
        transcription_metrics,
    )
    from dlstack.objective import Constraint, Objective, Score, lower_is_better

_HOME = {
    "DEFAULT_EVAL_BATCH_SIZE": "_evaluation",
    "BaselineResult": "_baselines",
    "ClassificationMetrics": "dlstack.metrics",
    "ComputeEstimate": "_compute",
    "Constraint": "dlstack.objective",
    "Curve": "dlstack.metrics",
    "DataNeeded": "_learning_curve",
    "EvalCheck": "_evaltests",
    "EvalData": "_evaltests",
    "EvalTestReport": "_evaltests",
    "Evaluation": "_evaluation",
    "EvaluationDetails": "_details",
    "GpuTable": "_compute",
    "Objective": "dlstack.objective",
    "PowerLawFit": "_learning_curve",
    "Reference": "_references",
    "ScopeResult": "_feasibility",
    "Score": "dlstack.objective",
    "ScoreLine": "_mltestscore",
    "SliceResult": "_slices",
    "TestScore": "_mltestscore",
    "ThresholdChoice": "_threshold",
    "baseline_suite": "_baselines",
    "baselines": "_baselines",
    "check_package": "_evaltests",
    "choose_threshold": "_threshold",
    "classification_metrics": "dlstack.metrics",
    "estimate_compute": "_compute",
    "eval_data": "_evaltests",
    "eval_tests_report": "_report",
    "eval_tests_section": "_report",
    "evaluate": "_evaluation",
    "evaluation_details": "_details",
    "fit_power_law": "_learning_curve",
    "load_gpu_table": "_compute",
    "lower_is_better": "dlstack.objective",
    "objective_section": "_report",
    "perturb": "_perturbations",
    "pr_curve": "dlstack.metrics",
    "project_baselines": "_baselines",
    "references_section": "_report",
    "register_rule": "_rules",
    "roc_curve": "dlstack.metrics",
    "rubric": "_mltestscore",
    "run_eval_tests": "_evaltests",
    "scope": "_feasibility",
    "scope_report": "_report",
    "scope_section": "_report",
    "score_project": "_mltestscore",
    "score_report": "_report",
    "score_section": "_report",
    "slice_metrics": "_slices",
    "slices_section": "_report",
    "threshold_section": "_report",
    "transcription_metrics": "dlstack.metrics",
    "write_evaluation_record": "_details",
}

__all__ = [
    "DEFAULT_EVAL_BATCH_SIZE",
    "BaselineResult",
    "ClassificationMetrics",
    "ComputeEstimate",
    "Constraint",
    "Curve",
    "DataNeeded",
    "EvalCheck",
    "EvalData",
    "EvalTestReport",
    "Evaluation",
    "EvaluationDetails",
    "GpuTable",
    "Objective",
    "PowerLawFit",
    "Reference",
    "ScopeResult",
    "Score",
    "ScoreLine",
    "SliceResult",
    "TestScore",
    "ThresholdChoice",
    "baseline_suite",
    "baselines",
    "check_package",
    "choose_threshold",
    "classification_metrics",
    "estimate_compute",
    "eval_data",
    "eval_tests_report",
    "eval_tests_section",
    "evaluate",
    "evaluation_details",
    "fit_power_law",
    "load_gpu_table",
    "lower_is_better",
    "objective_section",
    "perturb",
    "pr_curve",
    "project_baselines",
    "references_section",
    "register_rule",
    "roc_curve",
    "rubric",
    "run_eval_tests",
    "scope",
    "scope_report",
    "scope_section",
    "score_project",
    "score_report",
    "score_section",
    "slice_metrics",
    "slices_section",
    "threshold_section",
    "transcription_metrics",
    "write_evaluation_record",
]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOME, name)


def __dir__() -> list[str]:
    return sorted(__all__)
