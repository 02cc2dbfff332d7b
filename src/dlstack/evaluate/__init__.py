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
scikit-learn; ``dlstack.project`` reads the objective parser and the rubric from here to
validate config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack._lazy import lazy_attribute

# The function shares its module's name: bound eagerly, so importing the submodule
# dlstack.evaluate.baselines cannot replace the function on this package (numpy only).
from dlstack.evaluate.baselines import baselines

if TYPE_CHECKING:
    from dlstack.evaluate.baselines import (
        BaselineResult,
        baseline_suite,
        project_baselines,
    )
    from dlstack.evaluate.checkpoint import ObjectiveMonitor, uses_objective
    from dlstack.evaluate.compute import (
        ComputeEstimate,
        GpuTable,
        estimate_compute,
        load_gpu_table,
    )
    from dlstack.evaluate.details import (
        EvaluationDetails,
        evaluation_details,
        write_evaluation_record,
    )
    from dlstack.evaluate.evaltests import (
        EvalCheck,
        EvalData,
        EvalTestReport,
        check_package,
        eval_data,
        run_eval_tests,
    )
    from dlstack.evaluate.evaluation import DEFAULT_EVAL_BATCH_SIZE, Evaluation, evaluate
    from dlstack.evaluate.feasibility import ScopeResult, scope
    from dlstack.evaluate.learning_curve import DataNeeded, PowerLawFit, fit_power_law
    from dlstack.evaluate.metrics import (
        ClassificationMetrics,
        Curve,
        classification_metrics,
        pr_curve,
        roc_curve,
        transcription_metrics,
    )
    from dlstack.evaluate.mltestscore import ScoreLine, TestScore, score_project
    from dlstack.evaluate.objective import Constraint, Objective, Score, lower_is_better
    from dlstack.evaluate.perturbations import perturb
    from dlstack.evaluate.references import Reference
    from dlstack.evaluate.rules import register_rule
    from dlstack.evaluate.slices import SliceResult, slice_metrics
    from dlstack.evaluate.threshold import ThresholdChoice, choose_threshold

_HOME = {
    "ObjectiveMonitor": "checkpoint",
    "uses_objective": "checkpoint",
    "BaselineResult": "baselines",
    "baseline_suite": "baselines",
    "project_baselines": "baselines",
    "ComputeEstimate": "compute",
    "GpuTable": "compute",
    "estimate_compute": "compute",
    "load_gpu_table": "compute",
    "EvaluationDetails": "details",
    "evaluation_details": "details",
    "write_evaluation_record": "details",
    "EvalCheck": "evaltests",
    "EvalData": "evaltests",
    "EvalTestReport": "evaltests",
    "check_package": "evaltests",
    "eval_data": "evaltests",
    "run_eval_tests": "evaltests",
    "DEFAULT_EVAL_BATCH_SIZE": "evaluation",
    "Evaluation": "evaluation",
    "evaluate": "evaluation",
    "DataNeeded": "learning_curve",
    "PowerLawFit": "learning_curve",
    "fit_power_law": "learning_curve",
    "ClassificationMetrics": "metrics",
    "Curve": "metrics",
    "classification_metrics": "metrics",
    "pr_curve": "metrics",
    "roc_curve": "metrics",
    "transcription_metrics": "metrics",
    "ScoreLine": "mltestscore",
    "TestScore": "mltestscore",
    "score_project": "mltestscore",
    "Constraint": "objective",
    "Objective": "objective",
    "Score": "objective",
    "lower_is_better": "objective",
    "perturb": "perturbations",
    "Reference": "references",
    "register_rule": "rules",
    "ScopeResult": "feasibility",
    "scope": "feasibility",
    "SliceResult": "slices",
    "slice_metrics": "slices",
    "ThresholdChoice": "threshold",
    "choose_threshold": "threshold",
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
    "ObjectiveMonitor",
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
    "evaluate",
    "evaluation_details",
    "fit_power_law",
    "load_gpu_table",
    "lower_is_better",
    "perturb",
    "pr_curve",
    "project_baselines",
    "register_rule",
    "roc_curve",
    "run_eval_tests",
    "scope",
    "score_project",
    "slice_metrics",
    "transcription_metrics",
    "uses_objective",
    "write_evaluation_record",
]
assert sorted(__all__) == sorted([*_HOME, "baselines"])


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOME, name)


def __dir__() -> list[str]:
    return sorted(__all__)
