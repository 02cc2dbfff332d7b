"""The ML Test Score: points from evidence that exists, half points from manual records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import typer
from eval_fixtures import make_linear_package
from typer.testing import CliRunner

from dlstack.config import init_project, load_project, parse_config
from dlstack.errors import CheckFailed, ConfigError
from dlstack.evaluate import EvalCheck, EvalTestReport, score_project
from dlstack.evaluate._mltestscore import band_for, rubric
from dlstack.train._result import Normalization


@pytest.fixture
def project(tmp_path: Path):
    return init_project(tmp_path / "proj", "builtin:digits8")


def _lines(score) -> dict[str, object]:
    return {x.id: x for x in score.lines}


def test_rubric_has_28_tests_7_per_section() -> None:
    tests = rubric()
    assert len(tests) == 28 and len({t[0] for t in tests}) == 28
    for section in ("data", "model", "infrastructure", "monitoring"):
        assert sum(t[1] == section for t in tests) == 7


@pytest.mark.parametrize(
    ("score", "starts"),
    [
        (0, "More of a research"),
        (0.5, "Not totally"),
        (1, "Not totally"),
        (1.5, "There's been"),
        (3, "Reasonably"),
        (4, "Strong"),
        (5, "Strong"),
        (5.5, "Exceptional"),
    ],
)
def test_bands_follow_the_paper(score: float, starts: str) -> None:
    assert band_for(score).startswith(starts)


def test_empty_project_scores_zero_and_every_line_says_what_to_add(project) -> None:
    score = score_project(project)
    assert score.final == 0 and score.band.startswith("More of a research project")
    assert all(x.points == 0 and x.advice for x in score.lines)
    assert "dlstack data ingest" in _lines(score)["data-schema"].advice


def test_manual_records_give_half_a_point(project) -> None:
    (project.root / "dlstack.toml").write_text(
        (project.root / "dlstack.toml").read_text()
        + '\n[score.manual]\ndata-privacy = "reviewed: no personal data"\n'
        'infra-canary = { description = "5% of traffic for a day", date = "2026-11-01", '
        'by = "ops" }\n'
    )
    score = score_project(load_project(project.root))
    lines = _lines(score)
    assert lines["data-privacy"].points == 0.5
    assert lines["data-privacy"].evidence == "manual: reviewed: no personal data"
    assert lines["infra-canary"].evidence == "manual: 5% of traffic for a day (2026-11-01 by ops)"
    assert score.sections["data"] == 0.5 and score.final == 0  # model/monitoring still 0


def test_unknown_manual_id_is_a_config_error_listing_the_ids() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown test id.*'data-schemas'.*known ids: data-schema"
    ):
        parse_config('[score.manual]\ndata-schemas = "x"\n')


def _write_run(project, run_id: str, *, code: str, final_loss: float, started: float) -> Path:
    run_dir = project.runs_dir / run_id
    run_dir.mkdir(parents=True)
    record = {
        "schema": 1,
        "run_id": run_id,
        "status": "finished",
        "started_at": started,
        "data_version": "v1",
        "code_version": code,
        "config": {"train": {"lr": 0.001}},
        "history": [{"epoch": 1, "val_loss": final_loss, "val_acc": 0.9}],
    }
    (run_dir / "run.json").write_text(json.dumps(record))
    return run_dir


def _checks(kinds_passed: dict[str, bool]) -> list[EvalCheck]:
    names = {"slice": "every writer slice: accuracy >= 0.9"}
    return [
        EvalCheck(names.get(k, k), k, ok, 0.0, 0.0, f"{k} detail") for k, ok in kinds_passed.items()
    ]


def test_evidence_from_artifacts_scores_full_points(project) -> None:
    from dlstack.data._lake import Lake

    # data: ingest ran its schema checks (the lake keeps its report)
    Lake(project.lake_url).append(
        "ingest_reports",
        [
            {
                "at": datetime.now(UTC),
                "source": "builtin:digits8",
                "seen": 1797,
                "added": 1797,
                "unchanged": 0,
                "duplicates": 0,
                "queued": 0,
                "rejected": 3,
            }
        ],
    )
    # runs: two from the same commit, config and data, with the same result
    first = _write_run(project, "20260101-000000-aaaa", code="abc123", final_loss=0.25, started=1)
    last = _write_run(project, "20260101-000001-bbbb", code="abc123", final_loss=0.25, started=2)
    (last / "evaluation.json").write_text(
        json.dumps(
            {
                "split": "test",
                "baselines": [
                    {"name": "majority", "beaten": True},
                    {"name": "logistic_regression", "beaten": False},
                ],
            }
        )
    )
    (last / "report.html").write_text("<html></html>")
    # packages: two versions from the last run
    norm = Normalization((0.3,), (0.4,))
    for v in (1, 2):
        make_linear_package(
            project.models_dir / "digits" / str(v),
            np.zeros((64, 10)),
            np.zeros(10),
            [str(d) for d in range(10)],
            norm,
            version=v,
        )
        spec_file = project.models_dir / "digits" / str(v) / "model.json"
        spec = json.loads(spec_file.read_text())
        spec["run_id"] = last.name
        spec_file.write_text(json.dumps(spec))
    # `dlstack test` results, the doctor's report, a tuning result
    EvalTestReport(
        "pkg",
        "digits",
        2,
        "v1",
        "test",
        179,
        _checks(
            {
                "skew": True,
                "stability": True,
                "slice": False,
                "regression": True,
                "latency_regression": True,
                "staleness": True,
            }
        ),
    ).write_json(project.state_dir / "tests")
    doctor = project.state_dir / "doctor" / "report.json"
    doctor.parent.mkdir(parents=True)
    doctor.write_text(
        json.dumps({"healthy": True, "findings": [{"code": "x", "severity": "info"}]})
    )
    tune = project.state_dir / "tune" / "study-1" / "result.json"
    tune.parent.mkdir(parents=True)
    tune.write_text(json.dumps({"trials": 24}))

    score = score_project(project)
    lines = _lines(score)
    full = [
        "data-schema",
        "data-feature-code-tested",
        "model-spec-reviewed",
        "model-hyperparameters-tuned",
        "model-simpler-not-better",
        "model-slices",
        "model-inclusion",
        "infra-reproducible",
        "infra-spec-unit-tested",
        "infra-integration-tested",
        "infra-validated-before-serving",
        "infra-debuggable",
        "infra-rollback",
        "monitor-skew",
        "monitor-staleness",
        "monitor-numerical-stability",
        "monitor-compute-regression",
        "monitor-quality-regression",
    ]
    assert {k: lines[k].points for k in full} == dict.fromkeys(full, 1.0)
    # each line says what ran and its result, not merely that something is configured
    assert (
        "1,797 examples" in lines["data-schema"].evidence
        and "3 rejected" in lines["data-schema"].evidence
    )
    assert "FAILED: does not beat logistic_regression" in lines["model-simpler-not-better"].evidence
    assert (
        "identical" in lines["infra-reproducible"].evidence
        and first.name in lines["infra-reproducible"].evidence
    )
    assert "FAILED" in lines["model-slices"].evidence  # the point is for running it
    assert "v1" in lines["infra-rollback"].evidence
    assert lines["model-offline-online"].points == 0 and lines["infra-canary"].points == 0
    assert score.sections == {"data": 2.0, "model": 5.0, "infrastructure": 6.0, "monitoring": 5.0}
    assert score.final == 2.0  # the weakest section
    path = score.write_json(project)
    assert json.loads(path.read_text())["final"] == 2.0


def test_runs_that_disagree_or_uncommitted_code_are_reported(project) -> None:
    _write_run(project, "20260101-000000-aaaa", code="abc123-dirty", final_loss=0.25, started=1)
    _write_run(project, "20260101-000001-bbbb", code="abc123-dirty", final_loss=0.26, started=2)
    lines = _lines(score_project(project))
    assert lines["model-spec-reviewed"].points == 0
    assert "uncommitted" in lines["model-spec-reviewed"].evidence
    assert lines["infra-reproducible"].points == 0  # dirty code proves nothing
    _write_run(project, "20260101-000002-cccc", code="def456", final_loss=0.25, started=3)
    _write_run(project, "20260101-000003-dddd", code="def456", final_loss=0.30, started=4)
    line = _lines(score_project(project))["infra-reproducible"]
    assert line.points == 1 and "differ by up to 0.05" in line.evidence and line.advice


def test_score_cli_lists_ids_and_enforces_a_minimum(project) -> None:
    from dlstack.cli import _evaluate as cli

    app = typer.Typer()
    cli.register(app)
    app.callback()(lambda: None)
    listed = CliRunner().invoke(app, ["score", "--list"])
    assert listed.exit_code == 0 and "monitor-quality-regression" in listed.output
    result = CliRunner().invoke(app, ["score", "-p", str(project.root), "--min", "1"])
    assert isinstance(result.exception, CheckFailed) and "below the required 1" in str(
        result.exception
    )
    assert "final score 0" in result.output
    assert "[tests]" in result.output  # advice text is not swallowed as rich markup
    assert (project.state_dir / "score" / "score.html").is_file()
