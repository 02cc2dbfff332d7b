"""The prediction log (lake + sampled inputs in the store) and "this is wrong" feedback."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from dlstack.config import Project
from dlstack.data._catalog import Catalog, examples, queue
from dlstack.data._lake import Lake
from dlstack.data._store import ObjectStore
from dlstack.inputs import to_pixels
from dlstack.serve._app import create_app
from dlstack.serve._predlog import PREDICTIONS_DATASET, PredictionLog, input_statistics
from dlstack.web import NotFound


@pytest.fixture
def project(digits8_project: Project) -> Project:
    return digits8_project


def _project_app(project: Project, exported: Path, **serve) -> TestClient:
    from serve_helpers import serve_config

    cfg = serve_config(log_predictions=True, log_sample_rate=1.0, **serve)
    return TestClient(create_app([exported], config=cfg, project=project))


def test_to_pixels_inverts_the_model_input(digits8, result) -> None:
    from dlstack.inputs import to_model_input

    images = digits8.split("test").images[:4]
    norm = result.normalization
    x = to_model_input(images, norm.mean, norm.std)
    np.testing.assert_array_equal(to_pixels(x, norm.mean, norm.std), images)


def test_predictions_are_logged_to_the_lake_with_sampled_inputs_in_the_store(
    project: Project, exported: Path, digit_png: bytes, test_inputs: np.ndarray
) -> None:
    with _project_app(project, exported) as client:
        p = client.post("/predict", content=digit_png, headers={"content-type": "image/png"})
        x = test_inputs[:3]
        tensor = {"name": "input", "shape": list(x.shape), "datatype": "FP32"}
        body = {"id": "r-9", "inputs": [{**tensor, "data": x.ravel().tolist()}]}
        assert client.post("/v2/models/digits8/infer", json=body).status_code == 200
    # Leaving the client shuts the server down, which writes what is buffered.
    table = Lake(project.lake_url).read(PREDICTIONS_DATASET).to_pylist()
    assert len(table) == 4
    by_endpoint = {r["endpoint"] for r in table}
    assert by_endpoint == {"predict", "infer"}
    row = next(r for r in table if r["endpoint"] == "predict")
    assert row["prediction_id"] == p.json()["prediction_id"]
    assert row["label"] == p.json()["label"] and row["model"] == "digits8"
    assert len(row["probabilities"]) == 10
    assert 0 <= row["input_mean"] <= 1 and 0 <= row["input_ink"] <= 1
    assert [r["request_id"] for r in table if r["endpoint"] == "infer"] == ["r-9"] * 3
    assert row["notices"] == ""  # a digit of the model's size needed no preprocessing
    # With log_sample_rate = 1 every input is in the store, as the PNG the model saw.
    store = ObjectStore(project.store_url)
    image = Image.open(io.BytesIO(store.get(row["input_key"])))
    assert image.size == (8, 8) and image.mode == "L"
    stats = input_statistics(np.asarray(image)[None])
    assert row["input_mean"] == pytest.approx(float(stats["input_mean"][0]))


def test_this_is_wrong_sends_the_example_to_the_labeling_queue(
    project: Project, exported: Path, digit_png: bytes
) -> None:
    from dlstack.serve import new_key

    key, digest = new_key()
    keys = [{"name": "app", "role": "predict", "sha256": digest}]
    with _project_app(project, exported, api_keys=keys) as client:
        client.headers["X-API-Key"] = key  # feedback writes to the queue: it needs a key
        p = client.post("/predict", content=digit_png, headers={"content-type": "image/png"})
        prediction_id = p.json()["prediction_id"]
        r = client.post("/feedback", json={"prediction_id": prediction_id, "label": "7"})
        assert r.status_code == 202, r.text
        example_id = r.json()["example_id"]
        assert r.json()["queued"] is True
        again = client.post("/feedback", json={"prediction_id": prediction_id})
        assert again.json() == {"example_id": example_id, "queued": False}  # already waiting
        bad = client.post("/feedback", json={"prediction_id": prediction_id, "label": "Z"})
        assert bad.status_code == 400
        assert "not one of model digits8's labels" in bad.json()["error"]
        gone = client.post("/feedback", json={"prediction_id": "0" * 32})
        assert gone.status_code == 404 and "unknown or too old" in gone.json()["error"]
    catalog = Catalog(project.catalog_url, namespace=project.config.project.name)
    with catalog.connect() as conn:
        ex = conn.execute(select(examples).where(examples.c.id == example_id)).one()
        item = conn.execute(select(queue).where(queue.c.example_id == example_id)).one()
    catalog.close()
    assert ex.source == "feedback:digits8/1" and ex.meta["suggested_label"] == "7"
    assert (ex.width, ex.height, ex.mode) == (8, 8, "L")
    assert item.source == "feedback" and item.done_at is None
    assert ObjectStore(project.store_url).exists(example_id)
    feedback = Lake(project.lake_url).read("feedback").to_pylist()
    assert feedback[0]["prediction_id"] == prediction_id


def test_feedback_without_a_project_is_refused_clearly(exported: Path, digit_png: bytes) -> None:
    from serve_helpers import serve_config

    config = serve_config(feedback_requires_key=False)
    with TestClient(create_app([exported], config=config)) as client:
        p = client.post("/predict", content=digit_png, headers={"content-type": "image/png"})
        r = client.post("/feedback", json={"prediction_id": p.json()["prediction_id"]})
        assert r.status_code == 503 and "needs a project" in r.json()["error"]


def test_feedback_needs_a_key_by_default_and_is_rate_limited(
    project: Project, exported: Path, digit_png: bytes
) -> None:
    # Anonymous writes to the labeling queue used to be accepted with the default [serve].
    with _project_app(project, exported) as client:
        p = client.post("/predict", content=digit_png, headers={"content-type": "image/png"})
        body = {"prediction_id": p.json()["prediction_id"]}
        r = client.post("/feedback", json=body)
        assert r.status_code == 401 and "needs a predict API key" in r.json()["error"]
        assert "serve --new-key predict" in r.json()["error"]
    # Without the key requirement, each caller is still held to feedback_per_minute.
    with _project_app(
        project, exported, feedback_requires_key=False, feedback_per_minute=2
    ) as client:
        p = client.post("/predict", content=digit_png, headers={"content-type": "image/png"})
        body = {"prediction_id": p.json()["prediction_id"]}
        statuses = [client.post("/feedback", json=body).status_code for _ in range(3)]
        assert statuses[:1] == [202] and statuses[-1] == 429
        late = client.post("/feedback", json=body)
        assert late.status_code == 429 and int(late.headers["retry-after"]) >= 1


def test_the_log_buffer_is_bounded(tmp_path: Path) -> None:
    log = PredictionLog(lake=Lake(str(tmp_path / "lake")), max_buffer=5, recent=3)
    pixels = np.zeros((4, 8, 8), np.uint8)
    probabilities = np.full((4, 2), 0.5, np.float32)
    ids = []
    for _ in range(3):
        ids += log.record(
            model="m",
            version=1,
            endpoint="infer",
            request_id=None,
            pixels=pixels,
            probabilities=probabilities,
            labels=["a", "b"],
        )
    assert log.dropped == 12 - 5  # past the bound rows are counted, not kept
    with pytest.raises(NotFound):
        log.recent(ids[0])  # only the last `recent` inputs are kept for feedback
    assert log.recent(ids[-1]).label == "a"
    assert log.flush() == 5
    assert len(Lake(str(tmp_path / "lake")).read(PREDICTIONS_DATASET)) == 5


def test_files_with_and_without_optional_values_read_back_as_one_table(
    tmp_path: Path, digits8
) -> None:
    # One flush without sampled inputs, ids or latencies, one with: the columns' types
    # must agree across the Parquet files, or the lake cannot read the dataset.
    lake = Lake(str(tmp_path / "lake"))
    store = ObjectStore(str(tmp_path / "objects"))
    log = PredictionLog(lake=lake, store=store, sample_rate=0.0)
    pixels = digits8.split("test").images[:2]
    probabilities = np.full((2, 10), 0.1, np.float32)
    common = {"model": "m", "version": 1, "pixels": pixels, "probabilities": probabilities}
    labels = [str(i) for i in range(10)]
    log.record(endpoint="infer", request_id=None, labels=labels, **common)
    log.flush()
    log.sample_rate = 1.0
    log.record(
        endpoint="predict",
        request_id="r-1",
        labels=labels,
        latency_ms=3.5,
        notices=[["resized"], []],
        **common,
    )
    log.flush()
    rows = lake.read(PREDICTIONS_DATASET).to_pylist()
    assert sorted(r["request_id"] for r in rows) == ["", "", "r-1", "r-1"]
    assert sum(bool(r["input_key"]) for r in rows) == 2
