"""Inputs far outside the training range: the package records the train split's range of
each model input at export (InputSpec.train_range), and the server answers such requests
as usual plus a warning (OIP response parameter, /predict's warnings, a Prometheus
counter, a log line once per N). The reference for the recorded range is numpy's quantile
of the train model input, made here independently of the export."""

from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from serve_helpers import serve_config

from dlstack.compress import export_package
from dlstack.config import Config
from dlstack.data import Snapshot, SplitArrays
from dlstack.errors import PackageError
from dlstack.inputs import Column, TableEncoder, TableSpec, to_model_input
from dlstack.package import read_spec
from dlstack.serve._app import create_app
from dlstack.serve._input_range import RangeWarning, RangeWatch
from dlstack.serve._monitoring import Metrics
from dlstack.train._result import Normalization, TrainResult


def _infer_body(x: np.ndarray) -> dict:
    return {
        "inputs": [
            {
                "name": "input",
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": x.ravel().tolist(),
            }
        ]
    }


def _counter(client: TestClient, model: str, inp: str = "input") -> float:
    line = f'dlstack_input_out_of_range_total{{input="{inp}",model="{model}"}}'
    found = [x for x in client.get("/metrics").text.splitlines() if x.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


# -- an image package ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ranged(result: TrainResult, digits8: Snapshot, tmp_path_factory: pytest.TempPathFactory):
    """digits8 exported with its train split: model.json records the input's range."""
    models = tmp_path_factory.mktemp("ranged")
    sample = to_model_input(
        digits8.split("test").images[:5], result.normalization.mean, result.normalization.std
    )
    return export_package(result, models, "digits8", sample=sample, train=digits8.split("train"))


def test_the_recorded_range_is_the_train_model_inputs(
    ranged: Path, result: TrainResult, digits8: Snapshot
) -> None:
    r = read_spec(ranged / "model.json").input.train_range
    assert r is not None and r.per == "channel" and r.names == ["gray"]
    norm = result.normalization
    x = to_model_input(digits8.split("train").images, norm.mean, norm.std).ravel()
    assert r.examples == len(digits8.split("train"))  # every train image (small set)
    low, high = np.quantile(x, [0.001, 0.999])
    np.testing.assert_allclose([r.low[0], r.high[0]], [low, high], rtol=1e-5)
    np.testing.assert_allclose([r.min[0], r.max[0]], [x.min(), x.max()], rtol=1e-5)


def test_a_0_255_tensor_is_answered_with_a_warning_and_counted(
    ranged: Path, digits8: Snapshot, caplog: pytest.LogCaptureFixture
) -> None:
    raw = digits8.split("test").images[:2].astype(np.float32)[:, None]  # pixels, unscaled
    with TestClient(create_app([ranged], config=serve_config())) as client:
        assert _counter(client, "digits8") == 0
        with caplog.at_level(logging.WARNING, logger="dlstack.serve._input_range"):
            answer = client.post("/v2/models/digits8/infer", json=_infer_body(raw))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert {o["name"] for o in body["outputs"]} >= {"logits", "label"}  # answered as usual
        warning = body["parameters"]["input_out_of_range"]
        assert "input 'input': 2 of 2 image(s)" in warning
        assert "got 0..255" in warning and "sent 0..255 pixels?" in warning
        assert "(pixels / 255 - mean) / std" in warning  # the fix: what the model expects
        assert _counter(client, "digits8") == 1
        assert "far outside the training range" in caplog.text  # the first one is logged
        client.post("/v2/models/digits8/infer", json=_infer_body(raw))
        assert _counter(client, "digits8") == 2


def test_ordinary_test_images_get_no_warning(ranged: Path, digits8: Snapshot) -> None:
    test = digits8.split("test")
    spec = read_spec(ranged / "model.json")
    norm = spec.input.norm
    x = to_model_input(test.images, norm.mean, norm.std)
    # Every test image, in one batch: the verdict is per image, so none may trip.
    assert RangeWatch(Metrics()).check(spec, x) == []
    png = io.BytesIO()
    Image.fromarray(test.images[0]).save(png, format="PNG")
    with TestClient(create_app([ranged], config=serve_config())) as client:
        infer = client.post("/v2/models/digits8/infer", json=_infer_body(x[:16]))
        assert infer.status_code == 200 and "parameters" not in infer.json()
        predict = client.post("/predict", content=png.getvalue())
        assert predict.status_code == 200 and predict.json()["warnings"] == []
        assert _counter(client, "digits8") == 0


def test_the_rule_ignores_a_few_hot_pixels_but_not_a_patch(ranged: Path, digits8: Snapshot) -> None:
    spec = read_spec(ranged / "model.json")
    norm = spec.input.norm
    x = to_model_input(digits8.split("test").images[:1], norm.mean, norm.std)
    watch = RangeWatch(Metrics())
    hot = x.copy()
    hot[0, 0, 0, 0] = 1e4  # 1 of 64 pixels is 1.6%: beyond the 1% allowed
    assert len(watch.check(spec, hot)) == 1
    big = np.repeat(np.repeat(x, 4, axis=2), 4, axis=3)  # the same check on 32x32 values
    assert big.shape == (1, 1, 32, 32)
    few = big.copy()
    few[0, 0, :3, :3] = 1e4  # 9 of 1024 values (0.9%): a few hot pixels, no warning
    from dlstack.serve._input_range import _Bounds, _check_image

    bounds = _Bounds.of(spec.input)
    assert bounds is not None
    assert _check_image(spec, bounds, few) is None
    few[0, 0, :4, :4] = 1e4  # 16 of 1024 (1.6%): out
    assert _check_image(spec, bounds, few) is not None


def test_a_package_without_a_range_serves_without_warnings(
    exported: Path, tmp_path: Path, digits8: Snapshot
) -> None:
    """Packages exported before the range existed (or without the train split)."""
    old = tmp_path / "digits8" / "1"
    shutil.copytree(exported, old)
    written = json.loads((old / "model.json").read_text())
    assert "train_range" not in written["input"]  # no null written either
    assert read_spec(old / "model.json").input.train_range is None  # and its seal holds
    raw = digits8.split("test").images[:1].astype(np.float32)[:, None]
    with TestClient(create_app([old], config=serve_config())) as client:
        answer = client.post("/v2/models/digits8/infer", json=_infer_body(raw))
        assert answer.status_code == 200 and "parameters" not in answer.json()
        assert _counter(client, "digits8") == 0


def test_a_hand_widened_range_breaks_the_seal(ranged: Path, tmp_path: Path) -> None:
    copy = tmp_path / "digits8" / "1"
    shutil.copytree(ranged, copy)
    spec = json.loads((copy / "model.json").read_text())
    spec["input"]["train_range"]["high"] = [1e9]  # would silence every warning
    (copy / "model.json").write_text(json.dumps(spec))
    with pytest.raises(PackageError, match="changed after export"):
        read_spec(copy / "model.json")


def test_the_log_notes_one_in_every_n(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    watch = RangeWatch(metrics, log_every=3)
    warning = RangeWarning("m", "input", 1, 1, "input 'input': far out")
    with caplog.at_level(logging.WARNING, logger="dlstack.serve._input_range"):
        for _ in range(7):
            watch.observe([warning])
    assert len(caplog.records) == 3  # the 1st, 4th and 7th
    assert "7 request(s)" in caplog.records[-1].getMessage()
    value = metrics.registry.get_sample_value(
        "dlstack_input_out_of_range_total", {"model": "m", "input": "input"}
    )
    assert value == 7  # every one is counted


# -- a table package -------------------------------------------------------------------------

TABLE = TableSpec(
    (
        Column("age", "numeric"),
        Column("income", "numeric"),
        Column("color", "categorical", ("red", "green", "blue")),
    )
)


def _table(rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw rows in the data's coding: age ~ N(40, 10), income ~ U(1e3, 9e3), color index."""
    age = rng.normal(40, 10, n)
    income = rng.uniform(1000, 9000, n)
    color = rng.integers(0, 3, n).astype(np.float64)
    return np.stack([age, income, color], axis=1)


@pytest.fixture(scope="module")
def table_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TableEncoder]:
    rng = np.random.default_rng(0)
    raw = _table(rng, 300)
    labels = (raw[:, 0] > 40).astype(np.int64)
    train = SplitArrays(
        np.zeros((300, 0), np.uint8), labels, np.array([f"{i}" for i in range(300)]), raw
    )
    encoder = TableEncoder.fit(raw, TABLE)
    torch.manual_seed(0)
    model = torch.nn.Linear(encoder.width, 2).eval()
    run_dir = tmp_path_factory.mktemp("table-run")
    result = TrainResult(
        run_id="run-table",
        run_dir=run_dir,
        model=model,
        task="classification",
        architecture="linear",
        normalization=Normalization((), (), encoder.to_dict()),
        input_shape=(encoder.width,),
        classes=("young", "old"),
        data_version="v-table",
        code_version="test",
        config=Config(),
        best_checkpoint=run_dir / "best.ckpt",
    )
    sample = encoder.transform(raw[:4])
    return export_package(result, run_dir / "models", "people", sample=sample, train=train), encoder


def test_a_table_range_is_the_encoded_features_min_and_max(table_package) -> None:
    package, encoder = table_package
    r = read_spec(package / "model.json").input.train_range
    assert r is not None and r.per == "feature" and r.quantile == 0
    assert (
        r.names
        == encoder.feature_names
        == ["age", "income", "color=red", "color=green", "color=blue"]
    )
    x = encoder.transform(_table(np.random.default_rng(0), 300))  # the train rows again
    np.testing.assert_allclose(r.low, x.min(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.high, x.max(axis=0), rtol=1e-5, atol=1e-6)


def test_a_row_50_standard_deviations_out_is_warned_about_by_column(table_package) -> None:
    package, encoder = table_package
    age_mean, age_std = encoder.mean[0], encoder.std[0]
    far = {"age": age_mean + 50 * age_std, "income": 5000.0, "color": "red"}
    with TestClient(create_app([package], config=serve_config())) as client:
        predict = client.post("/predict", json={"row": far})
        assert predict.status_code == 200, predict.text
        (warning,) = predict.json()["warnings"]
        assert "column 'age'" in warning and "50 train standard deviations" in warning
        assert "income" not in warning  # only the column that is out
        x = encoder.transform(encoder.rows_to_raw([far]))
        infer = client.post("/v2/models/people/infer", json=_infer_body(x))
        assert "column 'age'" in infer.json()["parameters"]["input_out_of_range"]
        assert _counter(client, "people") == 2
        # Ordinary rows of the same distribution (not the train rows): no warning.
        ordinary = encoder.transform(_table(np.random.default_rng(1), 200))
        calm = client.post("/v2/models/people/infer", json=_infer_body(ordinary))
        assert calm.status_code == 200 and "parameters" not in calm.json()
        assert _counter(client, "people") == 2


# -- a model of several inputs: each input has its range, each is checked ---------------------


def test_each_input_of_a_two_input_model_has_its_range_and_its_verdict(digits8: Snapshot) -> None:
    from dlstack.compress._train_range import add_train_ranges
    from dlstack.package import PackageSpec

    encoder = TableEncoder.fit(_table(np.random.default_rng(0), 300), TABLE)
    images = digits8.split("train").images
    mean, std = (float(images.mean() / 255),), (float(images.std() / 255),)
    image = {
        "name": "image",
        "dtype": "float32",
        "shape": [-1, 1, 8, 8],
        "layout": "NCHW",
        "pixel_scale": 255,
        "normalization": {"mean": list(mean), "std": list(std)},
        "color": "grayscale",
    }
    features = {
        "name": "features",
        "dtype": "float32",
        "kind": "table",
        "shape": [-1, encoder.width],
        "layout": "NC",
        "table": encoder.to_dict(),
    }
    train = {
        "image": to_model_input(images, mean, std),
        "features": encoder.transform(_table(np.random.default_rng(0), 300)),
    }
    spec = PackageSpec.model_validate(
        {
            "schema_version": 2,
            "name": "pair",
            "version": 1,
            "task": "classification",
            "labels": list(digits8.classes),
            **add_train_ranges({"inputs": [image, features]}, train),
            "output": {"name": "logits", "kind": "logits", "shape": [-1, 10]},
            "onnx": {"file": "model.onnx", "sha256": "0" * 64},
        }
    )
    assert [i.train_range.per for i in spec.inputs if i.train_range] == ["channel", "feature"]
    test = digits8.split("test").images[:3]
    rows = encoder.transform(_table(np.random.default_rng(1), 3))
    watch = RangeWatch(Metrics())
    assert watch.check(spec, {"image": to_model_input(test, mean, std), "features": rows}) == []
    unscaled = {"image": test.astype(np.float32)[:, None], "features": rows}
    (warning,) = watch.check(spec, unscaled)
    assert warning.input == "image" and "sent 0..255 pixels?" in warning.text
