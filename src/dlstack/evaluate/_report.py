"""Report sections of the evaluate stage: the objective, reference points, the operating
threshold, slices, feasibility (scope), evaluation tests and the ML Test Score.

Each ``*_section`` appends one section to an :class:`HtmlReport`; the lifecycle report
calls them when it has the input, and ``scope_report``/``score_report``/``eval_tests_report``
write standalone pages. Scope, tests and score are passed as the dicts their stages save
as JSON, so a report can show the latest saved results without recomputing them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.evaluate._scope_report import scope_report, scope_section
from dlstack.report import HtmlReport, Kind, Section

if TYPE_CHECKING:
    from dlstack.evaluate._details import EvaluationDetails
    from dlstack.evaluate._slices import SliceResult

__all__ = [
    "eval_tests_report",
    "eval_tests_section",
    "objective_section",
    "references_section",
    "scope_report",
    "scope_section",
    "score_report",
    "score_section",
    "slices_section",
    "threshold_section",
]

MAX_SLICE_ROWS = 40  # per key; the worst first


def objective_section(report: HtmlReport, details: EvaluationDetails) -> Section:
    """The single number: what it is, the model's value, and every baseline ranked by it."""
    s = report.section("Objective")
    score = details.model_score
    s.paragraph(f"Objective: {details.objective.describe()}.")
    if score.feasible:
        s.paragraph(
            f"The model's objective is {score.value:.4f} and it meets every constraint"
            + (
                f" that could be checked (not checked here: {', '.join(score.unchecked)})"
                if score.unchecked
                else ""
            )
            + ".",
            kind="good",
        )
    else:
        s.paragraph(
            f"The model violates {', '.join(str(v) for v in score.violations)}: it ranks "
            f"below any candidate that meets the constraints.",
            kind="bad",
        )
    rows: list[list[object]] = []
    kinds: list[Kind | None] = []
    for r in details.ranking:
        rows.append(
            [
                r.rank,
                r.name,
                r.score.value,
                "yes"
                if r.score.feasible
                else "no: " + "; ".join(str(v) for v in r.score.violations),
            ]
        )
        kinds.append(("bad" if details.not_beaten else "good") if r.name == "model" else None)
    s.table(["rank", "candidate", "objective", "meets constraints"], rows, row_kinds=kinds)
    if details.not_beaten:
        s.paragraph(
            f"Under the objective the model does not beat {', '.join(details.not_beaten)}.",
            kind="bad",
        )
    return s


def references_section(report: HtmlReport, details: EvaluationDetails) -> Section | None:
    """Published results, the requirement and the human baseline beside the model."""
    rows = details.reference_rows()
    if not rows:
        return None
    s = report.section("Reference points")
    s.paragraph(
        "Numbers no code here computes: published results, the business requirement, and "
        "people's own error. The model is compared on the metrics each one names."
    )
    table_rows: list[list[object]] = []
    kinds: list[Kind | None] = []
    for ref, beaten, verdict in rows:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in ref.metrics.items())
        table_rows.append([ref.name, ref.kind, metrics, ref.note, verdict])
        kinds.append(None if beaten is None else "good" if beaten else "bad")
    s.table(["reference", "kind", "metrics", "source", "model"], table_rows, row_kinds=kinds)
    missed = [ref.name for ref, beaten, _ in rows if beaten is False]
    if missed:
        s.paragraph(f"The model does not beat (or meet) {', '.join(missed)}.", kind="bad")
    return s


def threshold_section(report: HtmlReport, details: EvaluationDetails) -> Section | None:
    """The operating threshold chosen by the objective, on the PR and ROC curves."""
    from dlstack.evaluate._plots import pr_roc_png

    t = details.threshold
    if t is None:
        return None
    s = report.section(f"Operating threshold ({t.positive_label} vs rest)")
    m = t.metrics
    s.paragraph(
        f"Predict {t.positive_label!r} when its probability is at least {t.threshold:.4f}: "
        f"the threshold that ranks best under '{t.objective}'."
    )
    if not t.score.feasible:
        s.paragraph(
            f"No threshold meets every constraint; the closest violates "
            f"{', '.join(str(v) for v in t.score.violations)}.",
            kind="warn",
        )
    s.table(
        ["threshold", "precision", "recall", "F1", "accuracy", "false-positive rate"],
        [[t.threshold, m["precision"], m["recall"], m["f1"], m["accuracy"], m["fpr"]]],
    )
    s.image(
        pr_roc_png(
            (t.pr.x.tolist(), t.pr.y.tolist()),
            (t.roc.x.tolist(), t.roc.y.tolist()),
            point=(m["recall"], m["precision"]),
            roc_point=(m["fpr"], m["recall"]),
            label=t.positive_label,
            areas=(t.pr.area, t.roc.area),
        ),
        alt="precision-recall and ROC curves with the operating threshold",
        caption="The red dot is the chosen threshold.",
    )
    return s


# The columns a slice table shows, in this order, of those its slices have; the first
# present of _SLICE_HEADLINE is the one the rows are ordered and the bars drawn by.
_SLICE_COLUMNS = (
    *("accuracy", "precision", "recall", "f1", "exact_match"),  # classification, multilabel
    *("cer", "wer", "line_accuracy"),  # ctc
    *("mae", "rmse", "r2"),  # regression
)
_SLICE_HEADERS = {"f1": "F1", "cer": "CER", "wer": "WER", "mae": "MAE", "rmse": "RMSE", "r2": "R²"}
_SLICE_HEADLINE = (("accuracy", True), ("cer", False), ("rmse", False))  # (name, higher is better)


def slices_section(report: HtmlReport, slices: Sequence[SliceResult]) -> Section | None:
    """Per-slice quality for each key (accuracy and F1; a line reader's CER; a regression's
    errors), worst slices first."""
    from dlstack.evaluate._plots import slice_bars_png

    if not slices:
        return None
    s = report.section("Slices")
    s.paragraph(
        "Quality per group of examples: a model good on average can fail one class, one "
        "source or one writer. Rows are ordered worst first."
    )
    keys = list(dict.fromkeys(x.key for x in slices))
    for key in keys:
        group = [x for x in slices if x.key == key]
        columns = [c for c in _SLICE_COLUMNS if all(c in x.metrics for x in group)]
        headline, higher = next(
            ((n, h) for n, h in _SLICE_HEADLINE if n in columns), (columns[0], True)
        )
        sign = 1.0 if higher else -1.0
        rows = sorted(group, key=lambda x: sign * x.metrics[headline])
        mean = sum(x.metrics[headline] * x.n for x in rows) / max(1, sum(x.n for x in rows))
        # Worse than the mean by 5 points of a 0..1 score, or by a fifth of an error in units.
        margin = 0.05 if headline in ("accuracy", "cer") else 0.2 * abs(mean)
        shown = rows[:MAX_SLICE_ROWS]
        s.table(
            [key, "n", *(_SLICE_HEADERS.get(c, c.replace("_", " ")) for c in columns)],
            [[x.value, x.n, *(x.metrics[c] for c in columns)] for x in shown],
            row_kinds=[
                "warn" if sign * (x.metrics[headline] - mean) < -margin else None for x in shown
            ],
        )
        if 1 < len(rows) <= MAX_SLICE_ROWS and headline in ("accuracy", "cer"):
            s.image(
                slice_bars_png(
                    {x.value: x.metrics[headline] for x in rows}, title=f"{headline} per {key}"
                ),
                alt=f"{headline} per {key}",
            )
    return s


def eval_tests_section(report: HtmlReport, result: Mapping[str, Any]) -> Section:
    """What a package was required to meet, what was measured, whether it held."""
    s = report.section("Evaluation tests")
    checks = result.get("checks", [])
    failed = [c for c in checks if not c.get("passed")]
    s.paragraph(
        f"`dlstack test` on {result.get('name')} v{result.get('version')} ({result.get('n')} "
        f"examples of the {result.get('split')} split, {result.get('created')}): "
        + (
            f"{len(failed)} of {len(checks)} checks FAILED."
            if failed
            else f"all {len(checks)} checks held."
        ),
        kind="bad" if failed else "good",
    )
    s.table(
        ["check", "kind", "measured", "limit", "held", "detail"],
        [
            [
                c["name"],
                c["kind"],
                "-" if c.get("measured") is None else c["measured"],
                "-" if c.get("limit") is None else c["limit"],
                "yes" if c.get("passed") else "NO",
                c.get("detail", ""),
            ]
            for c in checks
        ],
        row_kinds=["good" if c.get("passed") else "bad" for c in checks],
    )
    return s


def score_section(report: HtmlReport, score: Mapping[str, Any]) -> Section:
    """The ML Test Score: section sums, the final score and its band, every line."""
    s = report.section("ML Test Score")
    sections = score.get("sections", {})
    s.paragraph(
        f"Final score {score.get('final'):g} (the lowest section): {score.get('band')}",
        kind="info",
    )
    s.table(["section", "points (of 7)"], [[k, f"{float(v):g}"] for k, v in sections.items()])
    lines = score.get("lines", [])
    s.table(
        ["test", "section", "points", "evidence", "to add"],
        [
            [x["title"], x["section"], f"{float(x['points']):g}", x["evidence"] or "-", x["advice"]]
            for x in lines
        ],
        row_kinds=[
            "good" if x["points"] >= 1 else "warn" if x["points"] > 0 else None for x in lines
        ],
    )
    return s


def score_report(path: str | Path, score: Mapping[str, Any], *, project_name: str) -> Path:
    report = HtmlReport(f"{project_name}: ML Test Score", str(score.get("created", "")))
    score_section(report, score)
    return report.write(path)


def eval_tests_report(path: str | Path, result: Mapping[str, Any], *, project_name: str) -> Path:
    report = HtmlReport(f"{project_name}: evaluation tests", str(result.get("package", "")))
    eval_tests_section(report, result)
    return report.write(path)
