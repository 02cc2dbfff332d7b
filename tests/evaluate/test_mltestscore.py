"""The ML Test Score: points from evidence that exists, half points from manual records.

The evidence is made by the real stages (the ``scored`` fixture runs the lifecycle once
per session, ~20 s); damaged or fake records earn nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from eval_fixtures import ScoredProject, git_commit
from typer.testing import CliRunner

from dlstack.config import SCORE_TEST_IDS, init_project, load_project, parse_config
from dlstack.errors import CheckFailed, ConfigError
from dlstack.evaluate import ScoreRecord, rubric, score_project
from dlstack.evaluate._score import band_for
from dlstack.layout import EVALUATION_FILE, RUN_FILE
from dlstack.records import read_record, write_record


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


def test_every_rubric_test_has_a_check() -> None:
    from dlstack.evaluate._score_checks_ops import CHECKS

    assert tuple(CHECKS) == SCORE_TEST_IDS  # in the paper's order, none missing


def test_evidence_from_artifacts_scores_full_points(scored: ScoredProject) -> None:
    # Every stage really ran (see conftest.scored): ingest of a manifest with 3 files that
    # are no image, `dlstack run` (train, doctor, evaluate, export, test, report) in a git
    # repository, a second identical run, a second package tested against the first, and
    # v1 served with people's feedback on 34 of its answers.
    project = scored.project
    score = score_project(project)
    lines = _lines(score)
    full = [
        "data-schema",
        "data-feature-code-tested",
        "model-spec-reviewed",
        "model-offline-online",
        "model-hyperparameters-tuned",
        "model-simpler-not-better",
        "model-slices",
        "model-inclusion",
        "infra-reproducible",
        "infra-spec-unit-tested",
        "infra-integration-tested",
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
    # One epoch of training: the logistic regression is better, and the line says so.
    assert "FAILED: does not beat logistic_regression" in lines["model-simpler-not-better"].evidence
    assert (
        "identical" in lines["infra-reproducible"].evidence
        and scored.run.result.run_id in lines["infra-reproducible"].evidence
    )
    assert "FAILED" in lines["model-slices"].evidence  # the point is for running it
    assert "writer" in lines["model-inclusion"].evidence  # a slice by who wrote the digit
    assert "v1" in lines["infra-rollback"].evidence
    # Online accuracy from the people's labels (4 decided in the labeling queue), never
    # from the log's label column, which is the model's own answer.
    assert (
        "34 served predictions of digits8 v1 have a person's label (4 labeled in the "
        "catalog, 30 with the feedback)" in lines["model-offline-online"].evidence
    )
    # v1 served although its release gate failed: no point for validating before serving.
    validated = lines["infra-validated-before-serving"]
    assert validated.points == 0 and "digits8 v1 FAILED: tests, baselines" in validated.evidence
    assert lines["infra-canary"].points == 0
    assert score.sections == {"data": 2.0, "model": 6.0, "infrastructure": 5.0, "monitoring": 5.0}
    assert score.final == 2.0  # the weakest section
    path = score.write_json(project)
    assert json.loads(path.read_text())["final"] == 2.0
    assert read_record(path, ScoreRecord).lines[0].id == "data-schema"


def test_damaged_or_fake_evidence_earns_no_point(scored: ScoredProject, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(scored.project.root, root)
    project = load_project(root)
    run_dir = project.run_dir(scored.run.result.run_id)
    (run_dir / EVALUATION_FILE).write_text('{"split": "test", "baselin')  # cut off mid-write
    # Another kind of record where the doctor's should be is not the doctor's.
    shutil.copy(project.score_file, project.doctor_dir / "report.json")
    for run in project.runs_dir.iterdir():  # run.json says "finished", the model is gone
        shutil.rmtree(run / "checkpoints")
    for result in project.tests_dir.glob("digits8-v*.json"):
        result.write_text("{}")  # valid JSON, not a `dlstack test` record
    (project.models_dir / "digits8" / "1" / "model.json").write_text("{")

    lines = _lines(score_project(project))
    withheld = [
        "model-simpler-not-better",
        "infra-debuggable",
        "infra-spec-unit-tested",
        "model-spec-reviewed",
        "infra-reproducible",
        "infra-integration-tested",
        "model-slices",
        "monitor-skew",
        "monitor-quality-regression",
        "infra-rollback",
    ]
    assert {k: lines[k].points for k in withheld} == dict.fromkeys(withheld, 0.0)
    assert all(lines[k].advice for k in withheld)  # each says what would earn it
    # Online labels without the served package's test accuracy compare with nothing.
    assert lines["model-offline-online"].points == 0
    assert "test accuracy is unknown" in lines["model-offline-online"].evidence
    # Evidence that is intact still counts: the lake's ingest reports.
    assert lines["data-schema"].points == 1


def test_runs_that_disagree_or_uncommitted_code_are_reported(tmp_path: Path) -> None:
    from dlstack.data import Snapshot
    from dlstack.train import fit, read_run

    root = tmp_path / "proj"
    init_project(root, "builtin:digits8", max_epochs=1)
    toml = root / "dlstack.toml"
    toml.write_text(toml.read_text().replace("[data]\n", "[data]\nsubset = 300\n", 1))
    git_commit(root, "the project")
    toml.write_text(toml.read_text() + "# trying something\n")  # not committed: dirty
    project, digits8 = load_project(root), Snapshot.from_builtin("digits8")
    for _ in range(2):
        fit(project, digits8, progress=False)
    lines = _lines(score_project(project))
    assert lines["model-spec-reviewed"].points == 0
    assert "uncommitted" in lines["model-spec-reviewed"].evidence
    assert lines["infra-reproducible"].points == 0  # dirty code proves nothing
    git_commit(root, "try it")
    fit(project, digits8, progress=False)
    last = fit(project, digits8, progress=False)
    # Seeded CPU training repeats exactly; a nondeterministic op would make the second run
    # end elsewhere. That is what its run.json would then say:
    record = read_run(last.run_dir)
    record.history[-1] = {**record.history[-1], "val_loss": record.history[-1]["val_loss"] + 0.05}
    write_record(last.run_dir / RUN_FILE, record)
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
