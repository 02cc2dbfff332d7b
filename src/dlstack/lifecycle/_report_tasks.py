"""The report's evaluation and mistakes sections for a multilabel, regression or ctc task.

Classification keeps its sections in ``_report`` (per-class table, confusion matrix,
most confident mistakes); a set of classes has no confusion matrix and a number no
confidence, so these show what does apply: per class (or per target) scores, a plot of
predicted against true numbers, and the worst answers. A line reader (ctc) shows its
CER by line length, the character confusions that remain, and the lines read wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dlstack.metrics import MultilabelMetrics, RegressionMetrics, TranscriptionMetrics
from dlstack.report import bar_chart_png, image_png, predicted_vs_true_png

if TYPE_CHECKING:
    from dlstack.evaluate import Evaluation
    from dlstack.report import HtmlReport, Section

__all__ = ["TRAINING_METRIC", "answer_text", "task_evaluation", "task_mistakes"]

# The per-epoch metric the training curves show, per task: (history key, title).
TRAINING_METRIC = {
    "classification": ("acc", "accuracy"),
    "multilabel": ("f1_macro", "macro F1"),
    "regression": ("rmse", "RMSE"),
    "ctc": ("cer", "CER"),
}
LINE_THUMB_PX = 192  # a line thumbnail's longer side: 32 px tall lines stay readable


def answer_text(ev: Evaluation, row: np.ndarray) -> str:
    """One target or prediction as a person reads it: ``cat, dog`` / ``(none)``, or
    ``151.2`` (``y1 1.5, y2 -2``)."""
    if ev.task == "multilabel":
        given = [c for c, v in zip(ev.classes, row, strict=True) if v > 0.5]
        return ", ".join(given) or "(none)"
    if len(ev.classes) == 1:
        return f"{float(row[0]):.4g}"
    return ", ".join(f"{c} {float(v):.4g}" for c, v in zip(ev.classes, row, strict=True))


def task_evaluation(report: HtmlReport, ev: Evaluation) -> None:
    """Evaluation on the split: the headline numbers, per class or per target, a plot."""
    s = report.section(f"Evaluation on {ev.split}")
    s.table(["metric", "value"], [[k.replace("_", " "), v] for k, v in ev.metrics.items()])
    sc = ev.scores
    if isinstance(sc, TranscriptionMetrics):
        _transcription(s, ev, sc)
        return
    if isinstance(sc, MultilabelMetrics):
        s.table(
            ["class", "support", "precision", "recall", "F1", "AP"],
            [
                [
                    label,
                    int(sc.support[i]),
                    float(sc.precision[i]),
                    float(sc.recall[i]),
                    float(sc.f1[i]),
                    float(sc.average_precision[i]),
                ]
                for i, label in enumerate(ev.classes)
            ],
        )
        s.paragraph(
            "Support: examples that hold the class. A class is given when its probability "
            "reaches its threshold (0.5 unless tuned); AP is threshold-free."
        )
        return
    assert isinstance(sc, RegressionMetrics)
    s.table(
        ["target", "MAE", "RMSE", "R²"],
        [
            [
                name,
                float(sc.mae_per_target[j]),
                float(sc.rmse_per_target[j]),
                float(sc.r2_per_target[j]),
            ]
            for j, name in enumerate(ev.classes)
        ],
    )
    for j, name in enumerate(ev.classes[:4]):
        s.image(
            predicted_vs_true_png(ev.targets[:, j], ev.predictions[:, j], name=name),
            alt=f"predicted against true {name}",
            caption="One dot per example; on the dashed line the answer is exact.",
        )


def _transcription(s: Section, ev: Evaluation, sc: TranscriptionMetrics) -> None:
    s.paragraph(
        f"{sc.edits:,} character edits over {sc.characters:,} true characters "
        f"(CER = edits / characters); {sc.line_accuracy:.1%} of the lines are read exactly."
    )
    s.table(
        ["line length", "lines", "CER"],
        [[bucket, n, cer] for bucket, (cer, n) in sc.cer_by_length.items()],
    )
    if sc.cer_by_length:
        s.image(
            bar_chart_png(
                {bucket: cer for bucket, (cer, _) in sc.cer_by_length.items()},
                title=f"CER by line length on {ev.split}",
            ),
            alt="character error rate by line length",
        )
    if sc.confusions:
        s.table(
            ["true", "read", "times"],
            [[_char(t), _char(r), n] for t, r, n in sc.confusions],
        )
        s.paragraph(
            "The most frequent character edits that remain: a character read as another, "
            "dropped (read as nothing) or added (true nothing)."
        )


def _char(c: str) -> str:
    return {"": "(nothing)", " ": "(space)"}.get(c, c)


def _line_mistakes(s: Section, ev: Evaluation, limit: int) -> None:
    wrong = ev.mistakes()
    if len(wrong) == 0:
        s.paragraph(f"Every line of the {ev.split} split is read exactly.", kind="good")
        return
    shown = wrong[:limit]
    s.paragraph(
        f"{len(wrong):,} of {ev.n:,} lines are read wrong; the {len(shown)} the model was "
        f"surest of are shown (confidence: its least sure character)."
    )
    conf = ev.confidences
    s.gallery(
        (
            image_png(ev.images[i], size=LINE_THUMB_PX),
            f"true {ev.references[i]!r} · read {ev.transcripts[i]!r} · {conf[i]:.0%}",
        )
        for i in shown
    )


def task_mistakes(report: HtmlReport, ev: Evaluation, limit: int) -> None:
    """The worst answers: any wrong class decision, or the largest errors."""
    if ev.task == "ctc":
        _line_mistakes(report.section("Lines read wrong"), ev, limit)
        return
    s = report.section("Sample mistakes" if ev.task == "multilabel" else "Largest errors")
    worst = ev.mistakes()
    if len(worst) == 0:
        s.paragraph(f"No mistakes on the {ev.split} split.", kind="good")
        return
    shown = worst[:limit]
    if ev.task == "multilabel":
        s.paragraph(
            f"{len(worst):,} of {ev.n:,} examples get at least one class wrong; the "
            f"{len(shown)} most confident are shown (often label errors or ambiguity)."
        )
    else:
        s.paragraph(
            f"The {len(shown)} examples with the largest errors (relative to each target's "
            f"spread) on the {ev.split} split: outliers, label errors, or what the inputs "
            f"cannot tell."
        )
    captions = [
        f"true {answer_text(ev, ev.targets[i])} · predicted {answer_text(ev, ev.predictions[i])}"
        for i in shown
    ]
    if ev.images.size == 0:  # a table: the rows, by example id
        s.table(
            ["example", "true", "predicted"],
            [
                [
                    str(ev.ids[i])[:12],
                    answer_text(ev, ev.targets[i]),
                    answer_text(ev, ev.predictions[i]),
                ]
                for i in shown
            ],
        )
        return
    s.gallery(
        (image_png(ev.images[i]), caption) for i, caption in zip(shown, captions, strict=True)
    )
