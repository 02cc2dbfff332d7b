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
- evaluation tests: :func:`check_package`, :func:`run_eval_tests` (the checks in
  :data:`EVAL_CHECKS`), :func:`perturb` (and the pytest plugin
  ``dlstack.evaluate.pytest_plugin``);
- production readiness: :func:`score_project` (The ML Test Score);
- what the stage leaves on disk, typed: :class:`EvaluationRecord`
  (:func:`write_evaluation_record`), :class:`EvalTestRecord` (:func:`latest_results`),
  :class:`PytestRecord`, :class:`ScopeRecord` (:func:`write_scope_record`,
  :func:`saved_scope`), :class:`ScoreRecord`.

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
        evaluation_record,
        write_evaluation_record,
    )
    from dlstack.evaluate._eval_data import EvalData, eval_data
    from dlstack.evaluate._eval_report import EvalCheck, EvalTestReport, latest_results
    from dlstack.evaluate._evaltests import EVAL_CHECKS, check_package, run_eval_tests
    from dlstack.evaluate._evaluation import DEFAULT_EVAL_BATCH_SIZE, Evaluation, evaluate
    from dlstack.evaluate._feasibility import ScopeResult, scope
    from dlstack.evaluate._learning_curve import DataNeeded, PowerLawFit, fit_power_law
    from dlstack.evaluate._perturbations import perturb
    from dlstack.evaluate._preflight import check_before_training, check_project_data
    from dlstack.evaluate._records import (
        EvalTestRecord,
        EvaluationRecord,
        PytestRecord,
        ScopeRecord,
        ScoreRecord,
        saved_scope,
        write_scope_record,
    )
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
    from dlstack.evaluate._scope_result import NeededCompute
    from dlstack.evaluate._score import ScoreLine, TestScore, rubric, score_project
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
    "EVAL_CHECKS": "_evaltests",
    "BaselineResult": "_baselines",
    "ClassificationMetrics": "dlstack.metrics",
    "ComputeEstimate": "_compute",
    "Constraint": "dlstack.objective",
    "Curve": "dlstack.metrics",
    "DataNeeded": "_learning_curve",
    "EvalCheck": "_eval_report",
    "EvalData": "_eval_data",
    "EvalTestRecord": "_records",
    "EvalTestReport": "_eval_report",
    "Evaluation": "_evaluation",
    "EvaluationDetails": "_details",
    "EvaluationRecord": "_records",
    "GpuTable": "_compute",
    "NeededCompute": "_scope_result",
    "Objective": "dlstack.objective",
    "PowerLawFit": "_learning_curve",
    "PytestRecord": "_records",
    "Reference": "_references",
    "ScopeRecord": "_records",
    "ScopeResult": "_feasibility",
    "Score": "dlstack.objective",
    "ScoreLine": "_score",
    "ScoreRecord": "_records",
    "SliceResult": "_slices",
    "TestScore": "_score",
    "ThresholdChoice": "_threshold",
    "baseline_suite": "_baselines",
    "baselines": "_baselines",
    "check_before_training": "_preflight",
    "check_project_data": "_preflight",
    "check_package": "_evaltests",
    "choose_threshold": "_threshold",
    "classification_metrics": "dlstack.metrics",
    "estimate_compute": "_compute",
    "eval_data": "_eval_data",
    "eval_tests_report": "_report",
    "eval_tests_section": "_report",
    "evaluate": "_evaluation",
    "evaluation_details": "_details",
    "evaluation_record": "_details",
    "fit_power_law": "_learning_curve",
    "latest_results": "_eval_report",
    "load_gpu_table": "_compute",
    "lower_is_better": "dlstack.objective",
    "objective_section": "_report",
    "perturb": "_perturbations",
    "pr_curve": "dlstack.metrics",
    "project_baselines": "_baselines",
    "references_section": "_report",
    "register_rule": "_rules",
    "roc_curve": "dlstack.metrics",
    "rubric": "_score",
    "run_eval_tests": "_evaltests",
    "saved_scope": "_records",
    "scope": "_feasibility",
    "scope_report": "_report",
    "scope_section": "_report",
    "score_project": "_score",
    "score_report": "_report",
    "score_section": "_report",
    "slice_metrics": "_slices",
    "slices_section": "_report",
    "threshold_section": "_report",
    "transcription_metrics": "dlstack.metrics",
    "write_evaluation_record": "_details",
    "write_scope_record": "_records",
}

__all__ = [
    "DEFAULT_EVAL_BATCH_SIZE",
    "EVAL_CHECKS",
    "BaselineResult",
    "ClassificationMetrics",
    "ComputeEstimate",
    "Constraint",
    "Curve",
    "DataNeeded",
    "EvalCheck",
    "EvalData",
    "EvalTestRecord",
    "EvalTestReport",
    "Evaluation",
    "EvaluationDetails",
    "EvaluationRecord",
    "GpuTable",
    "NeededCompute",
    "Objective",
    "PowerLawFit",
    "PytestRecord",
    "Reference",
    "ScopeRecord",
    "ScopeResult",
    "Score",
    "ScoreLine",
    "ScoreRecord",
    "SliceResult",
    "TestScore",
    "ThresholdChoice",
    "baseline_suite",
    "baselines",
    "check_before_training",
    "check_package",
    "check_project_data",
    "choose_threshold",
    "classification_metrics",
    "estimate_compute",
    "eval_data",
    "eval_tests_report",
    "eval_tests_section",
    "evaluate",
    "evaluation_details",
    "evaluation_record",
    "fit_power_law",
    "latest_results",
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
    "saved_scope",
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
    "write_scope_record",
]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOME, name)


def __dir__() -> list[str]:
    return sorted(__all__)
