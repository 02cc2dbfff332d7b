"""`dlstack evaluate`: the report's evaluation table in the terminal (model, baselines,
reference points and the human baseline under the objective), and report.html refreshed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import typer
from eval_fixtures import ScoredProject
from typer.testing import CliRunner

REFERENCES = """
[metric]
optimize = "accuracy"
requirement = 0.97

[metric.baselines]
human_error = 0.01

[[metric.baselines.external]]
name = "Kaggle top-10 2021"
metrics = {accuracy = 0.5}
note = "leaderboard, published"
"""

VERDICT = re.compile(
    r"(beaten by \d\.\d{4} on accuracy|NOT BEATEN: accuracy \d\.\d{4} vs \d\.\d{4})"
)


def _app() -> typer.Typer:
    from dlstack.cli import _model as cli

    app = typer.Typer()
    cli.register(app)
    app.callback()(lambda: None)
    return app


def test_evaluate_prints_the_reports_table_and_refreshes_the_report(
    scored: ScoredProject, tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(scored.project.root, root)  # the session's project stays as it was
    toml = root / "dlstack.toml"
    # References added after the run: only a refreshed report can show them.
    text = re.sub(r"\[metric\]\n[^\[]*", "", toml.read_text())
    toml.write_text(text + REFERENCES)
    run_dir = root / ".dlstack" / "runs" / scored.run.result.run_id
    assert "Kaggle top-10 2021" not in (run_dir / "report.html").read_text()

    # The run `dlstack run` made (the fixture trained a second one, which has no package).
    run = ["--run", scored.run.result.run_id]
    out = CliRunner().invoke(
        _app(), ["evaluate", "-p", str(root), "-q", *run], env={"COLUMNS": "250"}
    )
    assert out.exit_code == 0, out.output + repr(out.exception)
    printed = " ".join(out.output.split())
    assert "objective: maximize accuracy" in printed
    assert "what it is" in printed and "the trained model" in printed
    for name in ("majority", "logistic_regression", "Kaggle top-10 2021", "requirement", "human"):
        assert name in printed
    assert "NOT MET: accuracy" in printed  # a 1-epoch model is below the 0.97 requirement

    html = (run_dir / "report.html").read_text()
    assert "Kaggle top-10 2021" in html and "leaderboard, published" in html
    # The same verdicts in both, from the objective's one ranking.
    assert sorted(VERDICT.findall(printed)) == sorted(VERDICT.findall(html))
    assert VERDICT.findall(printed)
    # The sections the run wrote are kept: the package, its `dlstack test` results.
    assert "Not exported yet" not in html and "Evaluation tests" in html
    record = json.loads((run_dir / "evaluation.json").read_text())
    assert {r["name"] for r in record["references"]} >= {"Kaggle top-10 2021", "human"}
    assert str(run_dir / "report.html") in printed
