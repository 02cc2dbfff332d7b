"""Everything beyond the headline metrics that a run's evaluation reports.

:func:`evaluation_details` puts a model's :class:`~dlstack.evaluate.Evaluation` and its
baselines under the project's objective (one number, the constraints), adds the reference
points (published, required, human), the per-slice metrics and, for a binary or
one-vs-rest task, the operating threshold chosen on the PR curve.
:func:`write_evaluation_record` saves it as ``evaluation.json`` in the run directory,
where `dlstack score` finds the simpler-model comparison.

>>> details = evaluation_details(project, evaluation, baselines)  # doctest: +SKIP
>>> details.model_score.feasible, details.not_beaten  # doctest: +SKIP
(True, [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import ConfigError
from dlstack.evaluate._records import EvaluationRecord, plain
from dlstack.layout import EVALUATION_FILE
from dlstack.objective import Objective, Ranked, Score
from dlstack.records import write_record

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.evaluate._baselines import BaselineResult
    from dlstack.evaluate._evaluation import Evaluation
    from dlstack.evaluate._references import Reference
    from dlstack.evaluate._slices import SliceResult
    from dlstack.evaluate._threshold import ThresholdChoice

__all__ = [
    "MODEL",
    "EvaluationDetails",
    "evaluation_details",
    "evaluation_record",
    "write_evaluation_record",
]

MODEL = "model"  # the model's row name among the baselines


@dataclass
class EvaluationDetails:
    """The model and its baselines under the objective, and what else the report shows."""

    objective: Objective
    model_values: dict[str, float]  # every metric by name (+ latency/size when given)
    model_score: Score
    ranking: list[Ranked]  # the model and every computed baseline, best first
    references: list[Reference] = field(default_factory=list)
    slices: list[SliceResult] = field(default_factory=list)
    threshold: ThresholdChoice | None = None
    split: str = "test"
    # ctc: the model's most frequent (true, read, count) character edits on the split
    confusions: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def not_beaten(self) -> list[str]:
        """Baselines that rank at or above the model under the objective."""
        model_rank = next(r.rank for r in self.ranking if r.name == MODEL)
        return [r.name for r in self.ranking if r.name != MODEL and r.rank < model_rank]

    def reference_rows(self) -> list[tuple[Reference, bool | None, str]]:
        return [(ref, *ref.compare(self.model_values)) for ref in self.references]

    def to_dict(self, baselines: Sequence[BaselineResult] = ()) -> dict[str, Any]:
        model_summary = {k: self.model_values[k] for k in _HEADLINE if k in self.model_values}
        return {
            "objective": self.objective.describe(),
            "model": {
                "metrics": model_summary,
                "objective": _finite(self.model_score.value),
                "feasible": self.model_score.feasible,
                "violations": [str(v) for v in self.model_score.violations],
                "unchecked": list(self.model_score.unchecked),
            },
            "ranking": [
                {
                    "rank": r.rank,
                    "name": r.name,
                    "objective": _finite(r.score.value),
                    "feasible": r.score.feasible,
                    "violations": [str(v) for v in r.score.violations],
                }
                for r in self.ranking
            ],
            "baselines": [
                {
                    "name": b.name,
                    "description": b.description,
                    "metrics": b.metrics,
                    # One rule for "beats a baseline": the objective's ranking.
                    "beaten": b.name not in self.not_beaten,
                }
                for b in baselines
            ],
            "references": [
                {
                    "name": ref.name,
                    "kind": ref.kind,
                    "metrics": ref.metrics,
                    "note": ref.note,
                    "beaten": beaten,
                    "verdict": verdict,
                }
                for ref, beaten, verdict in self.reference_rows()
            ],
            "slices": [s.to_dict() for s in self.slices],
            "confusions": [{"true": t, "read": r, "count": c} for t, r, c in self.confusions],
            "threshold": None
            if self.threshold is None
            else {
                "positive": self.threshold.positive_label,
                "threshold": self.threshold.threshold,
                "metrics": self.threshold.metrics,
                "feasible": self.threshold.score.feasible,
                "violations": [str(v) for v in self.threshold.score.violations],
                "average_precision": self.threshold.pr.area,
                "auroc": self.threshold.roc.area,
            },
        }


_HEADLINE = (
    *("mae", "rmse", "r2", "exact_match", "hamming_loss"),  # regression, multilabel
    *("cer", "wer", "line_accuracy"),  # ctc
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "f1_micro",
    "map",
    "auroc",
    "calibration_error",
)


def evaluation_details(
    project: Project | None,
    evaluation: Evaluation,
    baselines: Sequence[BaselineResult],
    *,
    objective: Objective | None = None,
    references: Sequence[Reference] | None = None,
    metadata: Mapping[str, np.ndarray] | None = None,
    extra_metrics: Mapping[str, float] | None = None,
    positive: str | None = None,
) -> EvaluationDetails:
    """The model and ``baselines`` under the project's objective (or ``objective``).

    ``metadata``: slice keys -> one value per evaluated example (default: read from the
    project's catalog when the project has one). ``extra_metrics`` (latency, size) join
    the model's metrics so constraints on them are checked. ``positive``: a class label
    to choose a one-vs-rest operating threshold for (always done for two classes).
    """
    from dlstack.evaluate._slices import slice_keys, task_slice_metrics
    from dlstack.evaluate._threshold import choose_threshold

    if objective is None:
        from dlstack.config import TASK_OBJECTIVES

        objective = (
            Objective.from_config(project.config.metric)
            if project is not None
            else Objective.parse(TASK_OBJECTIVES.get(evaluation.task, "accuracy"))
        )
    if references is None:
        from dlstack.evaluate._references import project_references

        references = project_references(project) if project is not None else []
    classes = evaluation.classes
    extra = dict(extra_metrics or {})
    model_values = {**evaluation.scores.values(classes), **extra}
    candidates: list[tuple[str, Mapping[str, float]]] = [(MODEL, model_values)]
    for b in baselines:
        values = b.scores.values(classes)
        # A baseline lacks the model's latency/size: constraints on them stay unchecked.
        candidates.append((b.name, values))
    usable = [(n, v) for n, v in candidates if all(m in v for m in objective.metrics)]
    ranking = objective.rank(usable)
    model_score = objective.score(model_values)

    if metadata is None and project is not None:
        metadata = _metadata(project, evaluation)
    groups = {k: metadata[k] for k in slice_keys(metadata)} if metadata else {}
    slices = task_slice_metrics(
        evaluation.task,
        evaluation.targets,
        evaluation.predictions,
        evaluation.probabilities,
        groups,
        classes=classes,
        thresholds=getattr(evaluation.scores, "thresholds", None),
    )

    threshold = None
    if positive is None and project is not None:
        positive = getattr(project.config.metric, "positive", None)
    one_class = evaluation.task == "classification"  # one class per example: a cut to choose
    if one_class and (positive is not None or len(classes) == 2):
        if positive is not None and positive not in classes:
            raise ConfigError(
                f"metric.positive = {positive!r} is not a class; classes: {', '.join(classes)}"
            )
        index = classes.index(positive) if positive is not None else 1
        y = evaluation.targets
        if (y == index).any() and (y != index).any():
            threshold = choose_threshold(
                y,
                evaluation.probabilities,
                objective,
                positive=index,
                classes=classes,
                extra_metrics=extra,
            )
    return EvaluationDetails(
        objective,
        model_values,
        model_score,
        ranking,
        list(references),
        slices,
        threshold,
        evaluation.split,
        list(getattr(evaluation.scores, "confusions", ())),
    )


def _metadata(project: Project, evaluation: Evaluation) -> dict[str, np.ndarray] | None:
    from dlstack.evaluate._slices import example_metadata

    try:
        return example_metadata(project, evaluation.ids)
    except Exception:  # no catalog (arrays from elsewhere): slices by class only
        return None


def write_evaluation_record(
    run_dir: str | Path, details: EvaluationDetails, baselines: Sequence[BaselineResult]
) -> Path:
    """``run_dir/evaluation.json``: objective, ranking, baselines, references, slices."""
    return write_record(Path(run_dir) / EVALUATION_FILE, evaluation_record(details, baselines))


def evaluation_record(
    details: EvaluationDetails, baselines: Sequence[BaselineResult]
) -> EvaluationRecord:
    """The typed record of ``details`` (what ``evaluation.json`` holds)."""
    data = {"split": details.split, **details.to_dict(baselines)}
    return EvaluationRecord.model_validate(plain(data))


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
