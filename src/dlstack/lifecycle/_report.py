"""The lifecycle report: data -> baselines -> training -> evaluation -> mistakes -> package.

One self-contained HTML file a person can open from disk. It answers, in the order the
practice asks them: which data, does the model beat the baselines, did training go well,
where does it fail, and what was shipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.lifecycle._gate import gate_section
from dlstack.lifecycle._report_tasks import TRAINING_METRIC, task_evaluation, task_mistakes
from dlstack.lifecycle._verdicts import MODEL_ROW, default_details, headlines, verdict
from dlstack.metrics import ClassificationMetrics
from dlstack.report import (
    HtmlReport,
    Kind,
    Section,
    bar_chart_png,
    confusion_matrix_png,
    image_png,
    training_curves_png,
)

if TYPE_CHECKING:
    from dlstack.evaluate import BaselineResult, Evaluation, EvaluationDetails
    from dlstack.package import GateVerdict
    from dlstack.train import TrainResult

__all__ = ["DEFAULT_MAX_MISTAKES", "lifecycle_report"]

DEFAULT_MAX_MISTAKES = 24  # a 4x6 grid: enough to see patterns, small enough to look at


def lifecycle_report(
    path: str | Path,
    *,
    project_name: str,
    snapshot_counts: Mapping[str, int],
    data_version: str,
    result: TrainResult,
    evaluation: Evaluation,
    baselines: Sequence[BaselineResult],
    package_path: str | Path | None = None,
    links: Mapping[str, str] | None = None,
    max_mistakes: int = DEFAULT_MAX_MISTAKES,
    details: EvaluationDetails | None = None,
    scope: Mapping[str, Any] | None = None,
    eval_tests: Mapping[str, Any] | None = None,
    test_score: Mapping[str, Any] | None = None,
    gate: GateVerdict | None = None,
) -> Path:
    """Write ``report.html`` (atomically) and return its path.

    Optional evaluate-stage parts, each a section when given: ``details`` (objective,
    reference points, operating threshold, slices: ``dlstack.evaluate.evaluation_details``),
    and the saved JSON records of ``scope`` (`dlstack scope`), ``eval_tests`` (`dlstack
    test`) and ``test_score`` (`dlstack score`); ``gate``, the release gate's verdict.
    """
    from dlstack import evaluate as sections

    ranking = details if details is not None else default_details(evaluation, baselines)
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = HtmlReport(
        f"{project_name}: lifecycle report",
        f"data version {data_version} · run {result.run_id} · {created}",
    )
    _summary(report, evaluation, baselines, ranking)
    if details is not None or eval_tests is not None or test_score is not None:
        _summary_more(report.sections[-1], details, eval_tests, test_score)
    if gate is not None:
        gate_section(report, gate)
    _data(report, data_version, snapshot_counts, evaluation)
    _baselines(report, evaluation, baselines, ranking)
    if details is not None:
        sections.references_section(report, details)
        sections.objective_section(report, details)
    if scope is not None:
        sections.scope_section(report, scope)
    _training(report, result)
    _evaluation(report, evaluation)
    if details is not None:
        sections.threshold_section(report, details)
        sections.slices_section(report, details.slices)
    _mistakes(report, evaluation, max_mistakes)
    if eval_tests is not None:
        sections.eval_tests_section(report, eval_tests)
    _package(report, package_path)
    if test_score is not None:
        sections.score_section(report, test_score)
    if links:
        report.section("Links").links(links)
    return report.write(path)


def _summary_more(
    s: Section,
    details: EvaluationDetails | None,
    eval_tests: Mapping[str, Any] | None,
    test_score: Mapping[str, Any] | None,
) -> None:
    """The evaluate stage's verdicts, next to the baseline verdict."""
    if details is not None:
        score = details.model_score
        if score.feasible:
            s.paragraph(
                f"Objective ({details.objective.describe()}): {score.value:.4f}.", kind="good"
            )
        else:
            s.paragraph(
                f"The model violates {', '.join(str(v) for v in score.violations)}.",
                kind="bad",
            )
        missed = [ref.name for ref, beaten, _ in details.reference_rows() if beaten is False]
        if missed:
            s.paragraph(
                f"It does not beat (or meet) the reference point(s) {', '.join(missed)}.",
                kind="bad",
            )
    if eval_tests is not None:
        failed = [c["name"] for c in eval_tests.get("checks", []) if not c.get("passed")]
        s.paragraph(
            f"Evaluation tests on {eval_tests.get('name')} v{eval_tests.get('version')}: "
            + (f"FAILED {', '.join(failed)}." if failed else "all held."),
            kind="bad" if failed else "good",
        )
    if test_score is not None:
        s.paragraph(
            f"ML Test Score {test_score.get('final'):g}: {test_score.get('band')}", kind="info"
        )


def _summary(
    report: HtmlReport,
    ev: Evaluation,
    baselines: Sequence[BaselineResult],
    details: EvaluationDetails,
) -> None:
    s = report.section("Summary")
    m = ev.metrics
    (first, first_name), (second, second_name) = headlines(ev.task)
    s.paragraph(
        f"{first_name[:1].upper()}{first_name[1:]} {m.get(first, float('nan')):.4f} and "
        f"{second_name} {m.get(second, float('nan')):.4f} on the "
        f"{ev.split} split ({ev.n:,} examples)."
    )
    kinds = {b.name: verdict(details, b.name)[0] for b in baselines}
    not_beaten = [name for name, kind in kinds.items() if kind == "bad"]
    unranked = [name for name, kind in kinds.items() if kind == "warn"]
    if unranked:
        s.paragraph(
            f"The baseline(s) {', '.join(unranked)} cannot be ranked under the objective "
            f"({details.objective.expression}): they lack a metric it needs.",
            kind="warn",
        )
    if not_beaten:
        s.paragraph(
            f"The model does not beat the baseline(s) {', '.join(not_beaten)}. A model "
            f"that cannot beat a simple baseline usually has a bug (labels, "
            f"normalization, learning rate) or too little data: debug before tuning.",
            kind="bad",
        )
    elif len(baselines) > len(unranked):
        s.paragraph(
            f"The model beats all {len(baselines) - len(unranked)} baselines. (Ranked by the "
            f"objective: {details.objective.describe()}.)",
            kind="good",
        )


def _data(report: HtmlReport, version: str, counts: Mapping[str, int], ev: Evaluation) -> None:
    s = report.section("Data")
    s.key_values(
        {
            "data version": version,
            {"regression": "targets", "ctc": "alphabet"}.get(
                ev.task, "classes"
            ): f"{len(ev.classes)}: "
            + ", ".join(ev.classes[:20])
            + (" ..." if len(ev.classes) > 20 else ""),
        }
    )
    s.table(
        ["split", "examples"],
        [[k, int(v)] for k, v in counts.items()] + [["total", int(sum(counts.values()))]],
    )


def _baselines(
    report: HtmlReport,
    ev: Evaluation,
    baselines: Sequence[BaselineResult],
    details: EvaluationDetails,
) -> None:
    s = report.section("Baselines vs model")
    s.paragraph(
        f"All rows are scored on the same {ev.split} split with the same metric code; "
        f"baselines are fit on the train split only. The verdict is the objective's "
        f"ranking ({details.objective.describe()})."
    )
    m = ev.metrics
    (first, first_name), (second, second_name) = headlines(ev.task)
    rows: list[list[object]] = [
        [MODEL_ROW, "the trained model", m.get(first), m.get(second), ev.n, ""]
    ]
    kinds: list[Kind | None] = ["info"]
    for b in baselines:
        kind, text = verdict(details, b.name)
        rows.append(
            [
                b.name,
                b.description,
                b.metrics.get(first),
                b.metrics.get(second),
                b.scores.n,
                text,
            ]
        )
        kinds.append(kind)
    s.table(
        ["predictor", "what it is", first_name, second_name, "n", "verdict"],
        rows,
        row_kinds=kinds,
    )
    if any(b.scores.n != ev.n for b in baselines):
        s.paragraph(
            "Baselines were scored on a different number of examples than the model; "
            "the comparison is not like for like.",
            kind="warn",
        )
    values = {MODEL_ROW: m[first], **{b.name: b.metrics[first] for b in baselines}}
    s.image(
        bar_chart_png(values, title=f"{first_name} on {ev.split}", highlight=MODEL_ROW),
        alt=f"{first_name} of the model and each baseline",
    )


def _training(report: HtmlReport, result: TrainResult) -> None:
    metric = TRAINING_METRIC.get(result.task, TRAINING_METRIC["classification"])
    s = report.section("Training")
    train = result.config.train
    s.key_values(
        {
            "architecture": result.architecture,
            "run": result.run_id,
            "MLflow run": result.mlflow_run_id or "(not tracked)",
            "code version": result.code_version,
            "epochs run": len(result.history),
            "training time": f"{result.train_seconds:.1f} s",
            "optimizer": f"{train.optimizer}, lr {train.lr:g}, batch size {train.batch_size}, "
            f"weight decay {train.weight_decay:g}, dropout {train.dropout:g}",
            "normalization": f"mean {_fmt(result.normalization.mean)}, "
            f"std {_fmt(result.normalization.std)}",
            "augmentation": (
                f"online: shifts up to {train.augment.max_shift} px"
                + (", thicker/thinner strokes" if train.augment.thicken else "")
                if train.augment is not None
                else "none"
            ),
        }
    )
    png = training_curves_png(result.history, metric)
    if png is None:
        s.paragraph("No per-epoch history was recorded for this run.", kind="warn")
    else:
        augmented = (
            " Train loss and accuracy are measured on the augmented batches, so train can "
            "look worse than val without anything being wrong."
            if train.augment is not None
            else ""
        )
        s.image(
            png,
            alt="training curves",
            caption=f"Loss and {metric[1]} per epoch. Val far "
            "above train loss is variance (overfitting); both high is bias." + augmented,
        )


def _evaluation(report: HtmlReport, ev: Evaluation) -> None:
    if ev.task != "classification":
        task_evaluation(report, ev)
        return
    s = report.section(f"Evaluation on {ev.split}")
    sc = ev.scores
    assert isinstance(sc, ClassificationMetrics)
    s.table(["metric", "value"], [[k.replace("_", " "), v] for k, v in ev.metrics.items()])
    s.table(
        ["class", "support", "precision", "recall", "F1"],
        [
            [
                label,
                int(sc.support[i]),
                float(sc.precision[i]),
                float(sc.recall[i]),
                float(sc.f1[i]),
            ]
            for i, label in enumerate(ev.classes)
        ],
    )
    s.image(
        confusion_matrix_png(sc.confusion, ev.classes),
        alt="confusion matrix",
        caption="Rows: true class; columns: predicted class; numbers are counts.",
    )


def _mistakes(report: HtmlReport, ev: Evaluation, limit: int) -> None:
    if ev.task != "classification":
        task_mistakes(report, ev, limit)
        return
    s = report.section("Sample mistakes")
    wrong = ev.mistakes()
    if len(wrong) == 0:
        s.paragraph(f"No mistakes on the {ev.split} split.", kind="good")
        return
    shown = wrong[:limit]
    s.paragraph(
        f"{len(wrong):,} of {ev.n:,} examples are misclassified; the {len(shown)} "
        f"most confident mistakes are shown (often label errors or real ambiguity)."
    )
    conf = ev.confidences
    if ev.images.size == 0:  # a table: the rows, by example id
        s.table(
            ["example", "true", "predicted", "confidence"],
            [
                [
                    str(ev.ids[i])[:12],
                    ev.classes[ev.targets[i]],
                    ev.classes[ev.predictions[i]],
                    f"{conf[i]:.0%}",
                ]
                for i in shown
            ],
        )
        return
    s.gallery(
        (
            image_png(ev.images[i]),
            f"true {ev.classes[ev.targets[i]]} · predicted {ev.classes[ev.predictions[i]]} "
            f"· {conf[i]:.0%}",
        )
        for i in shown
    )


def _package(report: HtmlReport, package_path: str | Path | None) -> None:
    s = report.section("Model package")
    if package_path is None:
        s.paragraph("Not exported yet: run `dlstack export`.", kind="info")
        return
    from dlstack.errors import PackageError
    from dlstack.package import SPEC_FILE, read_spec

    path = Path(package_path)
    spec_file = path if path.name == SPEC_FILE else path / SPEC_FILE
    try:
        spec = read_spec(spec_file)
    except PackageError as e:
        s.paragraph(f"Could not read {spec_file}: {e}", kind="warn")
        return
    onnx_file = spec_file.parent / spec.onnx.file
    size = onnx_file.stat().st_size if onnx_file.is_file() else None
    s.key_values(
        {
            "path": str(spec_file.parent),
            "name / version": f"{spec.name} / {spec.version}",
            "schema": spec.schema_version,
            "input": "; ".join(
                f"{'' if len(spec.inputs) == 1 else f'{i.name} '}{i.shape} {i.dtype}"
                for i in spec.inputs
            ),
            "ONNX": f"{spec.onnx.file}, {size / 1024:.1f} KiB, opset {spec.onnx.opset}, "
            f"{spec.onnx.exporter}"
            if size is not None
            else "missing",
            "sha256": spec.onnx.sha256,
            "created": spec.created,
        }
    )


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"
