"""The evaluate stage's parts of the lifecycle report: objective, references, threshold,
slices, feasibility, evaluation tests and the ML Test Score; hostile labels stay text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlstack.evaluate import (
    EvalCheck,
    EvalTestReport,
    Objective,
    Reference,
    ScoreLine,
    TestScore,
    evaluation_details,
)
from dlstack.evaluate._feasibility import ScopePoint, ScopeResult, _answer
from dlstack.evaluate._report import eval_tests_report, scope_report, score_report
from dlstack.lifecycle import lifecycle_report


def _details(lc, evil_label: str):
    n = lc.evaluation.n
    return evaluation_details(
        None,
        lc.evaluation,
        lc.baselines,
        objective=Objective.parse("recall", ["precision >= 0.99", "latency_p95_ms <= 20"]),
        references=[
            Reference("published <b>CNN</b>", "published", {"accuracy": 0.999}, "a paper"),
            Reference("requirement", "requirement", {"accuracy": 0.5}),
        ],
        metadata={"writer": np.array(["ann", "bob", evil_label] * n)[:n]},
        positive=evil_label,
    )


def _scope() -> dict:
    sizes = [60, 120, 250, 500, 1000, 2000]
    points = [ScopePoint(k / 2000, k, 2.0 * k**-0.5 + 0.02, 0.5, k * 3, 3) for k in sizes]
    result = ScopeResult(points, None, "lenet", 3, "val", "v1", 0.99, None)
    _answer(result)
    return result.to_dict()


def test_lifecycle_report_with_every_evaluate_part(lifecycle, evil_label, tmp_path: Path) -> None:
    lc = lifecycle
    details = _details(lc, evil_label)
    tests = EvalTestReport(
        "pkg",
        "digits8",
        1,
        "v1",
        "test",
        179,
        [
            EvalCheck("accuracy >= 0.99", "metric", False, 0.9, 0.99, "too low"),
            EvalCheck(f"every class slice: recall >= 0.5 ({evil_label})", "slice", True, 0.8, 0.5),
        ],
    ).to_dict()
    score = TestScore(
        [
            ScoreLine(
                "data-schema",
                "data",
                "Feature expectations are captured in a schema",
                1.0,
                f"ingest checked {evil_label}",
            ),
            ScoreLine("model-slices", "model", "Model quality ...", 0.0, "", "declare slices"),
        ]
    ).to_dict()
    path = tmp_path / "report.html"
    lifecycle_report(
        path,
        project_name="digits",
        snapshot_counts=lc.snapshot.counts(),
        data_version=lc.snapshot.version,
        result=lc.result,
        evaluation=lc.evaluation,
        baselines=lc.baselines,
        package_path=lc.package,
        details=details,
        scope=_scope(),
        eval_tests=tests,
        test_score=score,
    )
    html = path.read_text(encoding="utf-8")
    for heading in (
        "Reference points",
        "Objective",
        "Feasibility (scope)",
        "Slices",
        "Evaluation tests",
        "ML Test Score",
    ):
        assert f">{heading}</h2>" in html, heading
    assert "Operating threshold" in html
    # Flags in the summary: a violated constraint, an unbeaten reference, a failed test.
    assert "violates precision &gt;= 0.99" in html or "violates" in html
    assert "does not beat (or meet) the reference point(s) published &lt;b&gt;CNN&lt;/b&gt;" in html
    assert "FAILED accuracy &gt;= 0.99" in html
    assert "latency_p95_ms &lt;= 20" in html  # an unchecked constraint is named, not hidden
    # Hostile labels and names are text, never markup.
    assert "<script>" not in html and "<b>CNN</b>" not in html
    assert html.count("data:image/png;base64,") >= 6  # curves, slices, learning curve...


def test_standalone_pages(tmp_path: Path) -> None:
    scope_html = scope_report(tmp_path / "scope.html", _scope(), project_name="p").read_text()
    assert "learning curve" in scope_html and "Data needed: out of reach" in scope_html
    score = TestScore([ScoreLine("data-schema", "data", "t", 0.5, "manual: x", "automate")])
    score_html = score_report(tmp_path / "score.html", score.to_dict(), project_name="p")
    assert "Final score 0" in score_html.read_text()
    tests = EvalTestReport("pkg", "d", 1, "v", "test", 3, []).to_dict()
    assert (
        "all 0 checks held"
        in eval_tests_report(tmp_path / "t.html", tests, project_name="p").read_text()
    )
