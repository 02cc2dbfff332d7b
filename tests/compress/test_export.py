"""export_package: ONNX outputs are checked against torch, packages are versioned atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import dlstack.compress._export as export_module
from dlstack.compress import export_package
from dlstack.errors import CheckFailed, DataError, ModelError
from dlstack.package import SUPPORTED_SCHEMA, load_package, sha256_file


def _ort_logits(package: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(package / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_onnx_runtime_matches_torch_at_batch_1_and_7(
    kind, builders, make_result, models_dir, sample
):
    result = make_result(builders[kind]())
    package = export_package(result, models_dir, "digits8", sample=sample)
    assert package == models_dir / "digits8" / "1"
    assert sorted(p.name for p in package.iterdir()) == ["model.json", "model.onnx"]  # 1 file
    # Checked independently of the exporter's own check: a raw ORT session vs torch.
    for x in (sample[:1], sample):
        with torch.no_grad():
            expected = result.model(torch.from_numpy(x)).numpy()
        assert np.abs(_ort_logits(package, x) - expected).max() <= 1e-4


def test_model_json_is_the_contract(make_result, models_dir, sample, digits8, norm):
    package = export_package(
        make_result(), models_dir, "digits8", sample=sample, metrics={"accuracy": np.float32(0.5)}
    )
    spec = json.loads((package / "model.json").read_text())
    assert spec["schema_version"] == SUPPORTED_SCHEMA == 2
    assert len(spec["decides_sha256"]) == 64  # schema 2: the answer-deciding fields sealed
    assert (spec["name"], spec["version"], spec["task"]) == ("digits8", 1, "classification")
    assert spec["labels"] == list(digits8.classes)
    assert spec["input"]["shape"] == [-1, 1, 8, 8]  # dynamic batch axis
    assert spec["input"]["normalization"] == {"mean": list(norm.mean), "std": list(norm.std)}
    assert (
        spec["input"]["dtype"],
        spec["input"]["layout"],
        spec["input"]["pixel_scale"],
        spec["input"]["color"],
    ) == ("float32", "NCHW", 255, "grayscale")
    assert spec["output"] == {"name": "logits", "kind": "logits", "shape": [-1, 10]}
    assert spec["data_version"] == "builtin:digits8" and spec["run_id"] == "run-1"
    assert spec["training"]["train"]["lr"] == 3e-4  # the full training config
    assert spec["metrics"] == {"accuracy": 0.5}  # numpy scalars become JSON numbers
    assert spec["created"].endswith("Z") and spec["code_version"] == "test"
    assert spec["onnx"]["sha256"] == sha256_file(package / "model.onnx")
    # The ONNX graph's batch axis is symbolic, not 7.
    session = ort.InferenceSession(str(package / "model.onnx"), providers=["CPUExecutionProvider"])
    assert not isinstance(session.get_inputs()[0].shape[0], int)


def test_versions_increment(make_result, models_dir, sample):
    first = export_package(make_result(), models_dir, "m", sample=sample)
    second = export_package(make_result(), models_dir, "m", sample=sample)
    assert (first.name, second.name) == ("1", "2")
    assert load_package(models_dir / "m").spec.version == 2  # the name dir means the latest


def _leftovers(models_dir: Path) -> list[str]:
    return (
        sorted(str(p.relative_to(models_dir)) for p in models_dir.rglob("*"))
        if (models_dir.exists())
        else []
    )


def test_mismatch_raises_check_failed_and_leaves_nothing(
    make_result, models_dir, sample, monkeypatch
):
    export_package(make_result(), models_dir, "m", sample=sample)  # version 1 exists
    before = _leftovers(models_dir)
    real = export_module._torch_reference
    # Pretend torch computes something else: the check must notice and refuse to publish.
    monkeypatch.setattr(export_module, "_torch_reference", lambda m, x: real(m, x) + 1e-3)
    with pytest.raises(CheckFailed, match=r"differ from torch by 0\.001.*batch size 1"):
        export_package(make_result(), models_dir, "m", sample=sample)
    assert _leftovers(models_dir) == before  # no version 2, no temp dir
    monkeypatch.setattr(export_module, "_torch_reference", real)
    # No version number was consumed by the failure.
    assert export_package(make_result(), models_dir, "m", sample=sample).name == "2"


class StatefulForward(torch.nn.Module):
    """Python state that changes on every call: a graph captured once cannot reproduce it."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(64, 10)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.head(x.flatten(1)) * self.calls


def test_a_model_onnx_cannot_capture_fails_loudly(make_result, models_dir, sample):
    # The exporter bakes `self.calls` in as a constant; torch's later calls differ from it.
    with pytest.raises(CheckFailed, match="differ from torch"):
        export_package(make_result(StatefulForward()), models_dir, "bad", sample=sample)
    assert not (models_dir / "bad").exists()  # the name dir it created is gone too


def test_falls_back_to_the_torchscript_exporter(
    builders, make_result, models_dir, sample, monkeypatch
):
    real = torch.onnx.export

    def dynamo_broken(*args, **kwargs):
        if kwargs.get("dynamo"):
            raise RuntimeError("unsupported operator")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", dynamo_broken)
    package = export_package(make_result(builders["mlp"]()), models_dir, "m", sample=sample)
    spec = json.loads((package / "model.json").read_text())
    assert spec["onnx"]["exporter"] == "torchscript"
    assert load_package(package).predict_arrays(sample).shape == (7, 10)  # still dynamic


def test_both_exporters_failing_is_a_model_error(make_result, models_dir, sample, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no luck")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(ModelError, match=r"cannot be exported to ONNX.*no luck"):
        export_package(make_result(), models_dir, "m", sample=sample)
    assert _leftovers(models_dir) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample": np.zeros((3, 1, 28, 28), np.float32)}, r"\(N, 1, 8, 8\)"),
        ({"sample": np.full((2, 1, 8, 8), np.nan, np.float32)}, "NaN"),
    ],
)
def test_bad_sample_is_a_data_error(make_result, models_dir, kwargs, message):
    with pytest.raises(DataError, match=message):
        export_package(make_result(), models_dir, "m", **kwargs)


def test_bad_name_is_a_data_error(make_result, models_dir, sample):
    with pytest.raises(DataError, match="package name"):
        export_package(make_result(), models_dir, "../escape", sample=sample)


def test_public_api() -> None:
    import dlstack.compress as api

    assert all(hasattr(api, name) for name in api.__all__)
