"""The lifecycle report: self-contained, complete, safe with hostile labels."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

from dlstack.config import AugmentConfig
from dlstack.lifecycle import SUMMARY_HEADERS, lifecycle_report, summary_rows


def _write(lc, path: Path, **overrides) -> str:
    kwargs = dict(
        project_name="digits",
        snapshot_counts=lc.snapshot.counts(),
        data_version=lc.snapshot.version,
        result=lc.result,
        evaluation=lc.evaluation,
        baselines=lc.baselines,
        package_path=lc.package,
    )
    kwargs.update(overrides)
    out = lifecycle_report(path, **kwargs)
    assert out == path and path.is_file()
    return path.read_text(encoding="utf-8")


def test_report_has_every_part_and_is_self_contained(lifecycle, tmp_path) -> None:
    html = _write(lifecycle, tmp_path / "reports" / "report.html")
    assert "v-2024-digits8" in html  # the data version, so the numbers can be reproduced
    for heading in (
        "Data",
        "Baselines vs model",
        "Training",
        "Evaluation on test",
        "Sample mistakes",
        "Model package",
    ):
        assert f">{heading}</h2>" in html, heading
    assert "logistic_regression" in html and "majority" in html
    # bar chart, training curves, confusion matrix, and at least one mistake thumbnail
    assert html.count('src="data:image/png;base64,') >= 4
    # Readable from disk with no network: nothing is loaded from, or linked to, the web.
    assert not re.search(r"https?://", html)
    assert lifecycle.package.name in html and "sha256" in html
    assert list(tmp_path.joinpath("reports").iterdir()) == [tmp_path / "reports" / "report.html"]


def test_hostile_label_is_escaped(lifecycle, evil_label, tmp_path) -> None:
    html = _write(lifecycle, tmp_path / "report.html")
    assert evil_label not in html  # never live markup
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html  # but shown as text

    class Scripts(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

    parser = Scripts()
    parser.feed(html)
    assert "script" not in parser.tags


def test_model_that_does_not_beat_a_baseline_is_flagged(lifecycle, untrained, tmp_path) -> None:
    result, evaluation = untrained
    html = _write(
        lifecycle, tmp_path / "report.html", result=result, evaluation=evaluation, package_path=None
    )
    assert "does not beat the baseline(s)" in html and "logistic_regression" in html
    assert '<tr class="bad">' in html  # the row is highlighted, not only worded
    assert "NOT BEATEN" in html
    assert "No per-epoch history" in html and "Not exported yet" in html


def test_trained_model_beats_both_baselines(lifecycle, tmp_path) -> None:
    html = _write(lifecycle, tmp_path / "report.html")
    assert "The model beats all 2 baselines." in html
    assert '<tr class="bad">' not in html


def test_links_are_rendered_and_unsafe_schemes_are_not_links(lifecycle, tmp_path) -> None:
    html = _write(
        lifecycle,
        tmp_path / "report.html",
        links={"MLflow run": "../mlruns/1/abc", "evil": "javascript:alert(1)"},
    )
    assert '<a href="../mlruns/1/abc">MLflow run</a>' in html
    assert 'href="javascript:' not in html


def test_summary_rows_for_the_cli(lifecycle, untrained) -> None:
    rows = summary_rows(lifecycle.evaluation, lifecycle.baselines)
    assert [r[0] for r in rows] == ["model", "majority", "logistic_regression"]
    assert all(len(r) == len(SUMMARY_HEADERS) for r in rows)
    assert all(r[3] == str(lifecycle.evaluation.n) for r in rows)  # same split, same n
    assert rows[1][4].startswith("beaten by")
    _, bad_eval = untrained
    assert summary_rows(bad_eval, lifecycle.baselines)[2][4].startswith("NOT BEATEN")


def test_the_verdict_is_the_objectives_ranking(lifecycle, tmp_path) -> None:
    from dlstack.evaluate import Objective, evaluation_details

    # The majority baseline predicts the class prior: nearly perfectly calibrated, and so
    # the only candidate that meets this constraint. Better accuracy and macro F1 do not
    # make the model win: the objective ranks the majority baseline first.
    objective = Objective.parse("accuracy", ["calibration_error <= 0.01"])
    details = evaluation_details(
        None, lifecycle.evaluation, lifecycle.baselines, objective=objective, references=[]
    )
    majority = next(b for b in lifecycle.baselines if b.name == "majority")
    assert (
        lifecycle.evaluation.metrics["calibration_error"]
        > 0.01
        >= majority.metrics["calibration_error"]
    )
    assert details.not_beaten[0] == "majority"
    row = summary_rows(lifecycle.evaluation, lifecycle.baselines, details)[1]
    assert row[0] == "majority" and row[4].startswith("NOT BEATEN")
    assert "the model violates calibration_error <= 0.01" in row[4]
    html = _write(lifecycle, tmp_path / "report.html", details=details)
    assert "does not beat the baseline(s) majority" in html


def test_augmented_training_is_named_and_its_curves_explained(lifecycle, tmp_path) -> None:
    plain = _write(lifecycle, tmp_path / "plain.html")
    assert "augmented batches" not in plain
    config = lifecycle.result.config
    augmented = config.model_copy(
        update={"train": config.train.model_copy(update={"augment": AugmentConfig(max_shift=3)})}
    )
    result = dataclasses.replace(lifecycle.result, config=augmented)
    html = _write(lifecycle, tmp_path / "augmented.html", result=result)
    assert "online: shifts up to 3 px, thicker/thinner strokes" in html
    assert "measured on the augmented batches" in html
