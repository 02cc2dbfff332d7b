"""Each of the 28 ML Test Score items, twice: credited from the evidence the real stages
left (the ``scored`` project: `dlstack run`, a second run and package, serving with
people's feedback), and withheld when that evidence is faked or missing.

The fakes are what a score that read settings or the wrong column would be fooled by:
a prediction log whose labels are the model's own answers, a package served although
its release gate failed, a verdict copied from another package, records of another kind.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from eval_fixtures import ScoredProject

from dlstack.config import SCORE_TEST_IDS, Project, load_project
from dlstack.evaluate import score_project
from dlstack.evaluate._score import ScoreLine
from dlstack.lifecycle import release_gate
from dlstack.package import GATE_FILE

# What the evidence line says when the real producer ran (the scored project as made).
REAL = {
    "data-schema": "ingest(s) checked 1,797 examples against the schema",
    "data-feature-code-tested": "ran the input code both ways",
    "model-spec-reviewed": "trained from committed code",
    "model-offline-online": "34 served predictions of digits8 v1 have a person's label",
    "model-hyperparameters-tuned": "24 trials",
    "model-simpler-not-better": "simpler models on the test split",
    "model-slices": "slice requirement(s)",
    "model-inclusion": "writer",
    "infra-reproducible": "their final metrics are identical",
    "infra-spec-unit-tested": "the doctor ran its model checks",
    "infra-integration-tested": "went through the whole pipeline",
    "infra-debuggable": "the doctor examined the model",
    "infra-rollback": "the previous one (v1) loads",
    "monitor-skew": "the training/serving skew check ran",
    "monitor-staleness": "the staleness check ran",
    "monitor-numerical-stability": "the numerical stability check ran",
    "monitor-compute-regression": "the latency regression check",
    "monitor-quality-regression": "the quality regression check",
}
# Items no artifact can show: a person's record in [score.manual] is the producer.
MANUAL = [
    "data-features-beneficial",
    "data-feature-cost",
    "data-feature-requirements",
    "data-privacy",
    "data-new-features",
    "model-staleness-known",
    "infra-canary",
    "monitor-dependencies",
    "monitor-data-invariants",
]


def test_every_item_is_covered_below() -> None:
    covered = {*REAL, *MANUAL, "infra-validated-before-serving"}
    assert covered == set(SCORE_TEST_IDS) and len(SCORE_TEST_IDS) == 28


@pytest.fixture(scope="module")
def scored_lines(scored: ScoredProject) -> dict[str, ScoreLine]:
    return {x.id: x for x in score_project(scored.project).lines}


@pytest.fixture
def copy(scored: ScoredProject, tmp_path: Path) -> Project:
    """A private copy of the scored project, to fake evidence in."""
    root = tmp_path / "copy"
    shutil.copytree(scored.project.root, root)
    return load_project(root)


def _line(project: Project, test_id: str) -> ScoreLine:
    return next(x for x in score_project(project).lines if x.id == test_id)


# -- credited from real evidence --------------------------------------------------------


@pytest.mark.parametrize("test_id", sorted(REAL))
def test_real_evidence_earns_the_point(scored_lines: dict[str, ScoreLine], test_id: str) -> None:
    line = scored_lines[test_id]
    assert line.points == 1.0, line
    assert REAL[test_id] in line.evidence


@pytest.mark.parametrize("test_id", MANUAL)
def test_a_manual_record_earns_half_a_point(scored: ScoredProject, test_id: str) -> None:
    raw = scored.project.config.model_dump()
    raw["score"]["manual"] = {test_id: {"description": "checked by hand", "by": "qa"}}
    project = Project(scored.project.root, type(scored.project.config).model_validate(raw))
    line = _line(project, test_id)
    assert line.points == 0.5 and line.evidence == "manual: checked by hand (by qa)"


def test_a_served_package_that_passed_its_gate_is_validated(
    scored: ScoredProject, copy: Project
) -> None:
    # v1 judged again under a [gate] it meets (no [metric] constraints are declared).
    raw = copy.config.model_dump()
    raw["gate"] = {"required": ["constraints"]}
    lenient = Project(copy.root, type(copy.config).model_validate(raw))
    release_gate(lenient, copy.models_dir / "digits8" / "1", details=scored.run.details)
    line = _line(copy, "infra-validated-before-serving")
    assert line.points == 1.0, line
    assert "every served version passed its release gate before serving: digits8 v1" in (
        line.evidence
    )


# -- withheld when the evidence is fake or missing --------------------------------------


def _records(project: Project) -> list[Path]:
    return sorted(p for p in project.tests_dir.glob("digits8-v*.json"))


def _drop_checks(*kinds: str) -> Callable[[Project], None]:
    """`dlstack test` results as if those checks had never run."""

    def fake(project: Project) -> None:
        for path in _records(project):
            data = json.loads(path.read_text())
            data["checks"] = [c for c in data["checks"] if c["kind"] not in kinds]
            path.write_text(json.dumps(data))

    return fake


def _drop_writer_slices(project: Project) -> None:
    for path in _records(project):
        data = json.loads(path.read_text())
        data["checks"] = [c for c in data["checks"] if "writer" not in c["name"]]
        path.write_text(json.dumps(data))


def _lake(project: Project, dataset: str) -> Path:
    return Path(project.lake_url) / dataset


def _remove_dataset(dataset: str) -> Callable[[Project], None]:
    return lambda project: shutil.rmtree(_lake(project, dataset))


def _runs(project: Project) -> list[Path]:
    return sorted(p for p in project.runs_dir.iterdir() if p.is_dir())


def _not_from_git(project: Project) -> None:
    for run in _runs(project):
        data = json.loads((run / "run.json").read_text())
        data["code_version"] = "dlstack-0.1.0"  # what a run outside git records
        (run / "run.json").write_text(json.dumps(data))


def _no_tuning_trials(project: Project) -> None:
    path = project.tune_dir / "study-1" / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "trials": 0}))


def _doctor_of_another_kind(project: Project) -> None:
    shutil.copy(project.score_file, project.doctor_dir / "report.json")


def _no_simpler_models(project: Project) -> None:
    for run in _runs(project):
        (run / "evaluation.json").write_text('{"split": "test", "baselin')  # cut off
    _doctor_of_another_kind(project)  # the doctor's baselines would count too


def _first_run_lost_its_model(project: Project) -> None:
    shutil.rmtree(_runs(project)[0] / "checkpoints")  # run.json still says "finished"


def _never_evaluated(project: Project) -> None:
    for run in _runs(project):
        for name in ("report.html", "evaluation.json"):
            (run / name).unlink(missing_ok=True)


def _gate_copied_from_v2(project: Project, scored: ScoredProject) -> None:
    # v2 passes a lenient gate; its verdict is then put beside the v1 that served (the two
    # hold the same ONNX file: both were exported from the run's one model).
    raw = project.config.model_dump()
    raw["gate"] = {"required": ["constraints"]}
    lenient = Project(project.root, type(project.config).model_validate(raw))
    models = project.models_dir / "digits8"
    assert release_gate(lenient, models / "2", details=scored.run.details).passed
    shutil.copy(models / "2" / GATE_FILE, models / "1" / GATE_FILE)


def _previous_version_broken(project: Project) -> None:
    onnx = project.models_dir / "digits8" / "1" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:100])


# id -> (how the evidence is faked, what the withheld line says about it)
FAKE: dict[str, tuple[Callable[..., None], str]] = {
    "data-schema": (_remove_dataset("ingest_reports"), ""),
    "data-feature-code-tested": (_drop_checks("skew"), ""),
    "model-spec-reviewed": (_not_from_git, ""),
    "model-offline-online": (
        _remove_dataset("feedback"),
        "40 served predictions are logged, but none has a person's label",
    ),
    "model-hyperparameters-tuned": (_no_tuning_trials, ""),
    "model-simpler-not-better": (_no_simpler_models, ""),
    "model-slices": (_drop_checks("slice"), ""),
    "model-inclusion": (_drop_writer_slices, ""),
    "infra-reproducible": (_first_run_lost_its_model, ""),
    "infra-spec-unit-tested": (_doctor_of_another_kind, ""),
    "infra-integration-tested": (_never_evaluated, ""),
    "infra-validated-before-serving": (_gate_copied_from_v2, "judged digits8 v2, not this"),
    "infra-debuggable": (_doctor_of_another_kind, ""),
    "infra-rollback": (_previous_version_broken, "v1 does not load"),
    "monitor-skew": (_drop_checks("skew"), ""),
    "monitor-staleness": (_drop_checks("staleness"), ""),
    "monitor-numerical-stability": (_drop_checks("stability"), ""),
    "monitor-compute-regression": (_drop_checks("latency_regression"), ""),
    "monitor-quality-regression": (_drop_checks("regression"), ""),
}


def test_every_automated_item_has_a_fake() -> None:
    assert set(FAKE) == {*REAL, "infra-validated-before-serving"}


@pytest.mark.parametrize("test_id", sorted(FAKE))
def test_fake_evidence_earns_no_point(
    scored: ScoredProject, scored_lines: dict[str, ScoreLine], copy: Project, test_id: str
) -> None:
    fake, says = FAKE[test_id]
    if fake is _gate_copied_from_v2:
        fake(copy, scored)
    else:
        fake(copy)
    line = _line(copy, test_id)
    assert line.points == 0.0, line
    assert line.advice  # it says what would earn the point
    assert says in line.evidence


@pytest.mark.parametrize("test_id", MANUAL)
def test_artifacts_never_stand_in_for_a_manual_check(
    scored_lines: dict[str, ScoreLine], test_id: str
) -> None:
    # The scored project holds every artifact dlstack makes; none of them is this check.
    assert scored_lines[test_id].points == 0.0 and scored_lines[test_id].evidence == ""


def test_served_despite_a_failed_gate_is_not_validated(
    scored_lines: dict[str, ScoreLine],
) -> None:
    # As made, the scored project served v1, whose release gate failed (one epoch).
    line = scored_lines["infra-validated-before-serving"]
    assert line.points == 0.0
    assert "served without passing the release gate: digits8 v1 FAILED: tests, baselines" in (
        line.evidence
    )


# -- the online labels, case by case ---------------------------------------------------


def _rewrite_feedback(project: Project, change: Callable[[list[dict]], list[dict]]) -> None:
    from dlstack.data import Lake

    lake = Lake(project.lake_url)
    rows = change(lake.read("feedback").to_pylist())
    shutil.rmtree(_lake(project, "feedback"))
    lake.append("feedback", [{k: v for k, v in r.items() if k != "date"} for r in rows])


def test_feedback_without_labels_or_about_unlogged_predictions_is_no_online_label(
    copy: Project,
) -> None:
    def unlabeled(rows: list[dict]) -> list[dict]:
        return [{**r, "suggested_label": ""} for r in rows]

    def unknown(rows: list[dict]) -> list[dict]:
        return [{**r, "prediction_id": "0" * 32} for r in rows]

    _rewrite_feedback(copy, unlabeled)
    line = _line(copy, "model-offline-online")
    # Only the 4 examples a labeler decided keep a person's label: too few to compare.
    assert line.points == 0 and "4 served prediction(s) of digits8 v1" in line.evidence
    assert "needs 30" in line.evidence
    _rewrite_feedback(copy, unknown)
    line = _line(copy, "model-offline-online")
    assert line.points == 0 and "none has a person's label" in line.evidence


def test_the_minimum_of_online_labels_is_configurable(scored: ScoredProject) -> None:
    raw = scored.project.config.model_dump()
    raw["score"]["min_online_labels"] = 35
    project = Project(scored.project.root, type(scored.project.config).model_validate(raw))
    line = _line(project, "model-offline-online")
    assert line.points == 0 and "34 served prediction(s)" in line.evidence
    assert "needs 35 ([score] min_online_labels)" in line.evidence
