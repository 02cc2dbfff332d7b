"""Online accuracy in `dlstack monitor`: served predictions against people's labels only
(feedback, labeling), per time window, checked against the truth computed directly."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dlstack.config import Project
from dlstack.data import Catalog, DataRepo, Lake, ObjectStore, Snapshot
from dlstack.errors import ConfigError
from dlstack.inputs import to_model_input
from dlstack.package import load_package
from dlstack.serve._online import (
    LabeledPrediction,
    labeled_predictions,
    online_accuracy,
    parse_window,
    windows_of,
)
from dlstack.serve._predlog import FEEDBACK_DATASET, PredictionLog

T0 = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # a Monday evening: day windows split at 0:00


def _prediction(pid: str, label: str, minutes: float = 0) -> dict:
    return {
        "prediction_id": pid,
        "ts": T0 + timedelta(minutes=minutes),
        "version": 1,
        "label": label,
    }


def _feedback(pid: str, label: str = "", example: str = "", minutes: float = 1) -> dict:
    ts = T0 + timedelta(minutes=minutes)
    return {"prediction_id": pid, "ts": ts, "suggested_label": label, "example_id": example}


def test_only_peoples_labels_count_and_the_catalogs_label_wins() -> None:
    predictions = [_prediction(str(i), "7") for i in range(6)]
    feedback = [
        _feedback("0", "7"),  # a person confirms the answer
        _feedback("1", "1"),  # a person corrects it
        _feedback("2", "7", example="e2"),  # says 7, but labeling decided 2: labeling wins
        _feedback("3"),  # flagged wrong, no label: counted, not scored
        _feedback("4", "1", minutes=1),
        _feedback("4", "7", minutes=5),  # the latest word about a prediction is the one kept
        _feedback("gone", "7"),  # about a prediction the log does not hold
    ]
    # Prediction 5 has no feedback: its logged label is the model's own and never truth.
    labeled, unlabeled, unmatched = labeled_predictions(predictions, feedback, {"e2": "2"})
    by_id = {p.prediction_id: p for p in labeled}
    assert sorted(by_id) == ["0", "1", "2", "4"]
    assert [by_id[i].correct for i in ("0", "1", "2", "4")] == [True, False, False, True]
    assert by_id["2"].source == "labeling" and by_id["0"].source == "feedback"
    assert (unlabeled, unmatched) == (1, 1)


def _labeled(minutes: float, correct: bool) -> LabeledPrediction:
    return LabeledPrediction(
        f"p{minutes}", 1, T0 + timedelta(minutes=minutes), "7", "7" if correct else "1", "feedback"
    )


def test_windows_follow_the_calendar_or_a_count_of_labels() -> None:
    labeled = [_labeled(0, True), _labeled(20, False), _labeled(40, True), _labeled(100, True)]
    served = [T0 + timedelta(minutes=m) for m in (0, 10, 20, 40, 50, 100, 110)]
    days = windows_of(labeled, "day", served=served)
    # 22:30-23:10 on Monday, 00:10 on Tuesday: two days, served counted in each.
    assert [(w.start.day, w.served, w.labeled, w.correct) for w in days] == [
        (2, 5, 3, 2),
        (3, 2, 1, 1),
    ]
    assert days[0].accuracy == pytest.approx(2 / 3)
    hours = windows_of(labeled, "hour", served=served)
    assert [(w.start.hour, w.labeled) for w in hours] == [(22, 2), (23, 1), (0, 1)]
    pairs = windows_of(labeled, 2, served=served)
    assert [(w.labeled, w.correct) for w in pairs] == [(2, 1), (2, 2)]


@pytest.mark.parametrize("text", ["month", "0", "-3", "1.5", ""])
def test_window_is_validated(text: str) -> None:
    with pytest.raises(ConfigError, match="--window must be one of hour, day, week"):
        parse_window(text)


def test_window_names_and_counts_parse() -> None:
    assert (parse_window("Day"), parse_window("25")) == ("day", 25)


# -- on a project: the server's own feedback path, the labeling queue, `dlstack monitor` ----


@pytest.fixture
def project(digits8_project: Project, exported: Path) -> Project:
    """digits8 ingested (the catalog knows its classes) and its package in the project."""
    shutil.copytree(exported, digits8_project.models_dir / "digits8" / "1")
    repo = DataRepo.open(digits8_project)
    try:
        repo.ingest(digits8_project.source, progress=False)
    finally:
        repo.close()
    return digits8_project


def _serve_and_flag(project: Project, snapshot: Snapshot) -> tuple[int, int]:
    """Log predictions as the server does, send feedback on some, decide some in labeling.
    Returns (labeled, correct) computed directly from the truth."""
    from dlstack.data.labeling import create_user, record_label

    package = load_package(project.models_dir / "digits8")
    test = snapshot.split("test")
    # Each image changed by one pixel: new inputs, not the ingested examples (whose
    # catalog label would otherwise answer for them).
    images = test.images[:40].copy()
    images[:, 0, 0] = 1
    norm = package.spec.input.normalization
    probabilities = package.predict_arrays(to_model_input(images, norm.mean, norm.std))
    predicted = [package.labels[i] for i in probabilities.argmax(axis=1)]
    truth = [snapshot.classes[y] for y in test.labels[:40]]

    def catalog() -> Catalog:
        return Catalog(project.catalog_url, namespace=project.config.project.name)

    log = PredictionLog(
        lake=Lake(project.lake_url), store=ObjectStore(project.store_url), catalog=catalog
    )
    ids = log.record(
        model="digits8",
        version=1,
        endpoint="predict",
        request_id=None,
        pixels=images,
        probabilities=probabilities,
        labels=package.labels,
    )
    log.flush()
    scored = []
    for i in range(10):  # the right label sent with the feedback
        log.feedback(ids[i], label=truth[i])
        scored.append(i)
    decided = {}
    for i in range(10, 20):  # flagged (half with a wrong label), then decided in labeling
        decided[i] = log.feedback(ids[i], label=None if i < 15 else truth[(i + 1) % 40])
        scored.append(i)
    for i in range(20, 23):  # flagged without a label, never labeled: not scored
        log.feedback(ids[i])
    log.close()
    cat = catalog()
    try:
        create_user(cat, "ada")
        for i, fb in decided.items():
            record_label(cat, fb.example_id, "ada", truth[i])
    finally:
        cat.close()
    # Predictions 23..39 have no feedback: the log's label is the model's, not truth.
    return len(scored), sum(predicted[i] == truth[i] for i in scored)


def test_online_accuracy_from_feedback_and_labeling(project: Project, digits8: Snapshot) -> None:
    labeled, correct = _serve_and_flag(project, digits8)
    lake = Lake(project.lake_url)
    lake.append(
        FEEDBACK_DATASET, [{**_feedback("not-logged", "3"), "model": "digits8", "version": 1}]
    )
    online = online_accuracy(project, lake, "digits8", window="day", offline=0.9)
    assert len(online.labeled) == labeled == 20
    assert online.correct == correct
    assert online.sources() == {"labeling": 10, "feedback": 10}
    assert (online.flagged_unlabeled, online.unmatched) == (3, 1)
    [today] = online.windows
    assert (today.served, today.labeled, today.correct) == (40, 20, correct)


def test_monitor_prints_and_reports_online_accuracy(project: Project, digits8: Snapshot) -> None:
    from dlstack.cli._serve import register

    labeled, correct = _serve_and_flag(project, digits8)
    app = typer.Typer()
    register(app)
    app.callback()(lambda: None)
    out = CliRunner().invoke(app, ["monitor", "-p", str(project.root), "--window", "5"])
    assert out.exit_code in (0, 1), out.output  # 1: drift, which is not what this is about
    text = " ".join(out.output.split())
    assert "online accuracy per 5 labeled predictions" in text
    assert f"online accuracy {correct / labeled:.4f} on {labeled} served predictions" in text
    assert "3 flagged without a label" in text
    assert text.count(" 5 ") >= 4  # 20 labels: four windows of 5 labeled predictions
    html = (project.state_dir / "monitor" / "digits8.html").read_text()
    assert "Online accuracy" in html and f"online accuracy {correct / labeled:.4f}" in html


def test_monitor_says_how_to_get_online_accuracy_without_feedback(project: Project) -> None:
    lake = Lake(project.lake_url)
    online = online_accuracy(project, lake, "digits8")
    assert online.accuracy is None and online.windows == []
    assert "POST /feedback" in online.describe() and "dlstack label" in online.describe()


def test_labeled_predictions_sees_no_truth_in_logged_labels() -> None:
    # A log full of answers and no feedback: nothing is scored.
    predictions = [_prediction(str(i), "7") for i in range(50)]
    assert labeled_predictions(predictions, [], {}) == ([], 0, 0)
