"""Does the model beat its baselines? One rule: the objective's ranking.

``dlstack.evaluate.evaluation_details`` ranks the model and every baseline under the
project's objective; a baseline ranked above the model is not beaten. The lifecycle
report, the CLI's summary table, ``evaluation.json`` and `dlstack score` all read that
one ranking (``EvaluationDetails.not_beaten``).

The table's two metric columns are the task's headline numbers (:data:`HEADLINES`).

>>> SUMMARY_HEADERS
('predictor', 'accuracy', 'macro F1', 'n', 'verdict')
>>> summary_headers("regression")
('predictor', 'R²', 'RMSE', 'n', 'verdict')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlstack.evaluate import BaselineResult, Evaluation, EvaluationDetails
    from dlstack.report import Kind

__all__ = [
    "HEADLINES",
    "MODEL_ROW",
    "SUMMARY_HEADERS",
    "default_details",
    "headlines",
    "summary_headers",
    "summary_rows",
    "verdict",
]

# (metric, column header) of the two numbers a summary shows first, per task; the first is
# the one a bar chart compares. A regression's R^2 is scale-free; its RMSE in the target's
# units. A multilabel's macro F1 needs a threshold, its mAP does not. A line reader's CER
# counts character edits, its WER whole words (space-separated fields) read wrong.
HEADLINES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "classification": (("accuracy", "accuracy"), ("f1_macro", "macro F1")),
    "multilabel": (("f1_macro", "macro F1"), ("map", "mAP")),
    "regression": (("r2", "R²"), ("rmse", "RMSE")),
    "ctc": (("cer", "CER"), ("wer", "WER")),
}
SUMMARY_HEADERS = ("predictor", "accuracy", "macro F1", "n", "verdict")
MODEL_ROW = "model"  # the model's name in EvaluationDetails.ranking too


def headlines(task: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The task's two headline (metric, header) pairs (classification's for others)."""
    return HEADLINES.get(task, HEADLINES["classification"])


def summary_headers(task: str = "classification") -> tuple[str, ...]:
    """``SUMMARY_HEADERS`` with the task's metric columns."""
    (_, first), (_, second) = headlines(task)
    return ("predictor", first, second, "n", "verdict")


def _number(metrics: dict[str, float], key: str) -> str:
    value = metrics.get(key)
    return "-" if value is None else f"{value:.4f}"


def summary_rows(
    evaluation: Evaluation,
    baselines: Sequence[BaselineResult],
    details: EvaluationDetails | None = None,
) -> list[tuple[str, ...]]:
    """The model and each baseline as rows of strings, headed by
    ``summary_headers(evaluation.task)`` (``SUMMARY_HEADERS`` for classification).

    For the CLI: ``table.add_row(*row)`` for each row into a rich Table. The verdict is the
    objective's ranking (``details``, from ``dlstack.evaluate.evaluation_details``; without
    it, the default objective, accuracy): a baseline ranked above the model has a verdict
    starting with ``NOT BEATEN``.
    """
    details = details if details is not None else default_details(evaluation, baselines)
    (first, _), (second, _) = headlines(evaluation.task)
    m = evaluation.metrics
    rows: list[tuple[str, ...]] = [
        (MODEL_ROW, _number(m, first), _number(m, second), str(evaluation.n), "")
    ]
    for b in baselines:
        rows.append(
            (
                b.name,
                _number(b.metrics, first),
                _number(b.metrics, second),
                str(b.scores.n),
                verdict(details, b.name)[1],
            )
        )
    return rows


def default_details(
    evaluation: Evaluation, baselines: Sequence[BaselineResult]
) -> EvaluationDetails:
    """The model and ``baselines`` under the default objective, when no project's is given."""
    from dlstack.evaluate import evaluation_details

    return evaluation_details(None, evaluation, baselines, references=[], metadata={})


def verdict(details: EvaluationDetails, name: str) -> tuple[Kind, str]:
    """How baseline ``name`` fares against the model under the objective's ranking (the
    rule evaluation.json and `dlstack score` use too): good, bad, or warn (not comparable)."""
    ranked = {r.name: r for r in details.ranking}
    model, other = ranked.get(MODEL_ROW), ranked.get(name)
    what = details.objective.expression
    if model is None or other is None:
        who = "the model" if model is None else "it"
        return "warn", f"not compared: {who} lacks a metric {what!r} needs"
    if name in details.not_beaten:
        text = f"NOT BEATEN: {what} {model.score.value:.4f} vs {other.score.value:.4f}"
        if not model.score.feasible:
            text += f"; the model {model.score.describe()}"
        return "bad", text
    if model.score.feasible and not other.score.feasible:
        return "good", f"beaten: the baseline {other.score.describe()}"
    margin = abs(model.score.value - other.score.value)
    tie = " (a tie goes to the model)" if margin == 0 else ""
    return "good", f"beaten by {margin:.4f} on {what}{tie}"
