"""A CSV of measurements through every stage: init infers the columns, ingest stores the
rows, training fits the encoder on train only, the package serves JSON rows.

The reference is scikit-learn: the encoder against StandardScaler + OneHotEncoder, the
model against a standardized logistic regression on the same split (breast cancer).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from dlstack import lifecycle
from dlstack.config import init_project, load_project
from dlstack.data import DataRepo
from dlstack.errors import DataError
from dlstack.inputs import Column, TableEncoder, TableSpec
from dlstack.package import load_package


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def breast_cancer_csv(path: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    names = [n.replace(" ", "_") for n in d.feature_names]
    rows = [[*x, d.target_names[y]] for x, y in zip(d.data, d.target, strict=True)]
    return write_csv(path, [*names, "diagnosis"], rows)


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("tables")
    source = breast_cancer_csv(root / "cancer.csv")
    init_project(root / "proj", str(source))
    project = load_project(root / "proj")
    return project, lifecycle.run(project, progress=False, doctor_budget_s=None)


def test_init_reads_the_table_and_writes_its_columns(cancer) -> None:
    project, _ = cancer
    text = (project.root / "dlstack.toml").read_text()
    # No 'label' column: the last one is the target, every other one a numeric feature.
    assert 'target = "diagnosis"' in text and "[data.table]" in text
    assert "30 numeric and 0 categorical features" in text
    assert len(project.config.data.table.features) == 30
    assert project.config.train.max_epochs == 150  # ~1,200 steps on 455 train rows


def test_beats_a_standardized_logistic_regression_on_the_same_split(cancer) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    _, out = cancer
    snap = out.snapshot
    assert snap.is_table and snap.features is not None and snap.features.shape[1] == 30
    train, test = snap.split("train"), snap.split("test")
    scaler = StandardScaler().fit(train.features)
    reference = LogisticRegression(max_iter=5000).fit(
        scaler.transform(train.features), train.labels
    )
    ref_accuracy = reference.score(scaler.transform(test.features), test.labels)
    assert out.evaluation.metrics["accuracy"] >= ref_accuracy - 0.01, ref_accuracy


def test_the_package_serves_json_rows_as_training_saw_them(cancer, tmp_path: Path) -> None:
    _, out = cancer
    package = load_package(out.package)
    spec = json.loads((out.package / "model.json").read_text())["input"]
    assert spec["kind"] == "table" and spec["shape"] == [-1, 30] and spec["layout"] == "NC"
    test = out.snapshot.split("test")
    columns = out.snapshot.table.names
    rows = [dict(zip(columns, map(float, raw), strict=True)) for raw in test.features[:20]]
    served = package.predict_rows(rows, top_k=2)
    # The training path: evaluation's own predictions on the same examples.
    index = {k: j for j, k in enumerate(out.evaluation.ids)}
    for p, example in zip(served, test.ids[:20], strict=True):
        assert p.label == out.snapshot.classes[out.evaluation.predictions[index[example]]]

    from dlstack.serve._app import create_app

    with TestClient(create_app([out.package])) as client:
        answer = client.post("/predict", json={"row": rows[0]})
        assert answer.status_code == 200 and answer.json()["label"] == served[0].label
        meta = client.get(f"/v2/models/{package.spec.name}").json()
        assert meta["inputs"][0]["shape"] == [-1, 30]
        assert meta["parameters"]["input_kind"] == "table"
        assert [c["name"] for c in meta["parameters"]["columns"]] == columns
        x = package.model_input(features=test.features[:2])
        infer = client.post(
            f"/v2/models/{package.spec.name}/infer",
            json={
                "inputs": [
                    {
                        "name": "input",
                        "datatype": "FP32",
                        "shape": [2, 30],
                        "data": x.ravel().tolist(),
                    }
                ]
            },
        )
        assert infer.status_code == 200, infer.text
        bad = dict(rows[0], mean_radius="big")
        for body, says in (
            ({"row": bad}, "'mean_radius' = 'big' is not a number"),
            ({"row": {**rows[0], "colour": 1}}, "unknown column(s) 'colour'"),
            ({"row": {k: v for k, v in rows[0].items() if k != "mean_area"}}, "'mean_area'"),
            ({"image": "abc"}, '{"row"'),
        ):
            got = client.post("/predict", json=body)
            assert got.status_code == 400 and says in got.json()["error"], got.text
        assert client.post("/predict", content=b"\x89PNG").status_code == 415

    path = write_csv(
        tmp_path / "rows.csv", [*columns, "diagnosis"], [[*r.values(), "?"] for r in rows[:3]]
    )
    cli = subprocess.run(
        [sys.executable, "-m", "dlstack", "predict", str(out.package), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert "left out: diagnosis" in cli.stdout and f"rows.csv:1  {served[0].label}" in cli.stdout


def test_encoder_matches_scikit_learn_and_states_its_rules() -> None:
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    kinds = ("a", "b", "c")
    table = TableSpec((Column("x", "numeric"), Column("k", "categorical", kinds)))
    raw = np.column_stack([rng.normal(5, 2, 50), rng.integers(0, 2, 50)]).astype(float)
    encoder = TableEncoder.fit(raw, table)  # train has only "a" and "b"
    later = np.array([[1.0, 2.0], [np.nan, np.nan], [3.0, 0.0]])  # "c" unseen, a missing row
    got = encoder.transform(later)
    scaler = StandardScaler().fit(raw[:, :1])
    onehot = OneHotEncoder(handle_unknown="ignore").fit(raw[:, 1:].astype(int))
    want_x = scaler.transform(later[[0, 2], :1])[:, 0]
    assert np.allclose(got[[0, 2], 0], want_x, atol=1e-6)
    assert np.allclose(got[[0, 2], 1:], onehot.transform([[2], [0]]).toarray())
    assert got[1].tolist() == [0.0, 0.0, 0.0]  # missing: the train mean, no category
    assert encoder.feature_names == ["x", "k=a", "k=b"]
    round_trip = TableEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert np.array_equal(round_trip.transform(later), got)
    with pytest.raises(DataError, match="missing column"):
        encoder.rows_to_raw([{"x": 1}])


def test_bad_rows_are_rejected_with_the_reason_and_the_rest_go_in(tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "a.csv",
        ["size", "kind", "label"],
        [[1.5, "x", "yes"], [2.0, "y", "no"], ["", "x", "yes"], [3.0, "", "no"]],
    )
    init_project(tmp_path / "p", str(first))
    project = load_project(tmp_path / "p")
    assert project.config.data.table.categorical == ("kind",)
    repo = DataRepo.open(project)
    try:
        report = repo.ingest(str(first), progress=False)
        assert report.added == 4 and not report.rejected  # missing values: filled later
        more = write_csv(
            tmp_path / "b.csv",
            ["size", "kind", "label"],
            [["huge", "x", "yes"], [4.0, "z", ""], [5.0, "z", "no"]],
        )
        report = repo.ingest(str(more), progress=False)
        reasons = dict(report.rejected)
        assert report.added == 1
        assert "'size' = 'huge' is not a number" in reasons["b.csv:1"]
        assert "target column 'label' is empty" in reasons["b.csv:2"]
        with pytest.raises(DataError, match="lacks column"):
            repo.ingest(str(write_csv(tmp_path / "c.csv", ["size", "label"], [[1, "no"]])))
        repo.commit("rows")
        _, snap = repo.checkout("HEAD", progress=False)
        assert snap.table is not None and snap.table.columns[1].categories == ("x", "y", "z")
        assert np.isnan(snap.features).sum() == 2
    finally:
        repo.close()


def test_monitor_flags_a_shifted_feature_and_not_a_held_out_sample(cancer) -> None:
    from dlstack.serve._app import create_app
    from dlstack.serve._drift import monitor

    project, out = cancer
    columns = out.snapshot.table.names
    test = out.snapshot.split("test")
    rows = [dict(zip(columns, map(float, raw), strict=True)) for raw in test.features]
    with TestClient(create_app([out.package], project=project)) as client:
        for row in rows:  # held-out rows: the same distribution as train
            assert client.post("/predict", json={"row": row}).status_code == 200
        client.app.state.server.log.flush()
    report = monitor(project)
    features = {c.name: c for c in report.checks if c.name.startswith("feature ")}
    assert len(features) == 30 and not any(c.drifted for c in features.values())

    from datetime import UTC, datetime

    started = datetime.now(UTC)
    with TestClient(create_app([out.package], project=project)) as client:
        for row in rows:  # the same rows measured in another unit: radius x 3
            shifted = dict(row, mean_radius=row["mean_radius"] * 3)
            assert client.post("/predict", json={"row": shifted}).status_code == 200
        client.app.state.server.log.flush()
    report = monitor(project, since=started)
    by_name = {c.name: c for c in report.checks}
    assert by_name["feature mean_radius"].drifted and report.drifted
    assert not by_name["feature mean_texture"].drifted
    html = report.write_html(project.root / "monitor.html").read_text()
    assert "feature mean_radius" in html


def test_init_infers_regression_from_a_target_of_fractions(tmp_path: Path) -> None:
    # Numbers with fractions are a measured quantity: regression, optimized for R^2;
    # a few whole numbers stay class codes.
    source = write_csv(tmp_path / "d.csv", ["age", "y"], [[30, 151.5], [40, 75.0], [50, 141.25]])
    config = init_project(tmp_path / "p", str(source)).config
    assert (config.project.task, config.data.target, config.metric.optimize) == (
        "regression",
        "y",
        "r2",
    )
    codes = write_csv(tmp_path / "c.csv", ["age", "y"], [[30, 1], [40, 2], [50, 1]])
    q = init_project(tmp_path / "q", str(codes)).config
    assert (q.project.task, q.data.target) == ("classification", "y")
