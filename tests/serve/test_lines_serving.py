"""A line reader (ctc) through export, the package runtime, /predict and the OIP endpoint.

The model is the tiny one of ``tests/ctc_lines.py`` (barely trained): what is checked is
that every layer carries frames and text faithfully — the ONNX graph computes the torch
model's frames at any width, a line reads the same alone or beside others, /predict and a
KServe-style client sending a variable-width tensor get the text the package reads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from serve_helpers import serve_config

from ctc_lines import exported_lines, line_pixels, lines_result, png
from dlstack.errors import DataError
from dlstack.inputs import line_width, to_model_input
from dlstack.package import load_package
from dlstack.serve._app import create_app
from dlstack.targets import decide_ctc, softmax


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return exported_lines(str(tmp_path_factory.mktemp("line-models")))


@pytest.fixture(scope="module")
def client(package_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app([package_dir], config=serve_config())) as c:
        yield c


def _model_input(pixels: np.ndarray, package_dir: Path) -> np.ndarray:
    """One line as the server runs it: padded to its run width, standardized."""
    spec = load_package(package_dir).spec.input
    padded = np.zeros((1, pixels.shape[0], line_width(pixels.shape[1])), np.uint8)
    padded[0, :, : pixels.shape[1]] = pixels
    return to_model_input(padded, spec.norm.mean, spec.norm.std)


def test_the_package_declares_a_variable_width_and_frame_logits(package_dir: Path) -> None:
    spec = json.loads((package_dir / "model.json").read_text())
    assert spec["task"] == "ctc"
    assert spec["input"]["shape"] == [-1, 1, 32, -1]
    out = spec["output"]
    assert out["kind"] == "frame_logits" and out["blank"] == 0 and out["decoder"] == "greedy"
    assert out["shape"] == [-1, -1, len(spec["labels"]) + 1]


@pytest.mark.parametrize("width", [40, 96, 250])
def test_onnx_frames_match_torch_at_widths_never_traced(package_dir: Path, width: int) -> None:
    model = lines_result().model.eval()
    x = np.random.default_rng(width).normal(size=(3, 1, 32, width)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    got = load_package(package_dir).logits(x)
    assert got.shape == expected.shape == (3, width // 4, expected.shape[2])
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_a_line_reads_the_same_alone_as_among_lines_of_other_widths(
    package_dir: Path, tmp_path: Path
) -> None:
    pkg = load_package(package_dir)
    lines = line_pixels()[:6]
    assert len({p.shape[1] for p in lines}) > 1, "the lines should differ in width"
    files = []
    for i, pixels in enumerate(lines):
        files.append(tmp_path / f"line{i}.png")
        files[-1].write_bytes(png(pixels))
    together = pkg.predict(images=files)
    alone = [pkg.predict(images=[f])[0] for f in files]
    assert [p.label for p in together] == [p.label for p in alone]
    for pixels, p in zip(lines, together, strict=True):
        # The reference: torch's frames of the line at its run width, decoded greedily.
        model = lines_result().model.eval()
        with torch.inference_mode():
            frames = model(torch.from_numpy(_model_input(pixels, package_dir))).numpy()
        (want,) = decide_ctc(softmax(frames, axis=-1), pkg.labels)
        assert p.task == "ctc" and p.label == want.label
        assert [c for c, _ in p.characters] == list(p.label)
        assert p.confidence == pytest.approx(want.confidence, abs=1e-4)


def test_predict_returns_the_text_and_each_characters_confidence(
    client: TestClient, package_dir: Path
) -> None:
    pixels = line_pixels()[0]
    r = client.post("/predict", content=png(pixels), headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "ctc" and body["text"] == body["label"]
    assert "".join(c["char"] for c in body["characters"]) == body["text"]
    assert all(0 <= c["confidence"] <= 1 for c in body["characters"])
    (alone,) = load_package(package_dir).predict(images=[png(pixels)])
    assert body["text"] == alone.label


def test_a_kserve_client_sends_a_variable_width_line_and_reads_the_string(
    client: TestClient, package_dir: Path
) -> None:
    meta = client.get("/v2/models/lines").json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 32, -1]}]
    assert meta["parameters"]["task"] == "ctc" and meta["parameters"]["blank"] == 0
    pkg = load_package(package_dir)
    for pixels in line_pixels()[:3]:  # three widths, each its own request
        x = _model_input(pixels, package_dir)
        body = {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "data": x.ravel().tolist(),
                }
            ]
        }
        r = client.post("/v2/models/lines/infer", json=body)
        assert r.status_code == 200, r.text
        outputs = {o["name"]: o for o in r.json()["outputs"]}
        (want,) = pkg.predict(images=[png(pixels)])
        assert outputs["label"]["datatype"] == "BYTES" and outputs["label"]["data"] == [want.label]
        frames = outputs["logits"]["shape"]
        assert frames == [1, x.shape[3] // 4, len(pkg.labels) + 1]


def test_an_input_of_the_wrong_height_is_a_clear_400(client: TestClient) -> None:
    body = {
        "inputs": [
            {"name": "input", "shape": [1, 1, 20, 64], "datatype": "FP32", "data": [0.0] * 1280}
        ]
    }
    r = client.post("/v2/models/lines/infer", json=body)
    assert r.status_code == 400
    assert "[-1, 1, 32, -1]" in r.json()["error"]


def test_a_decoder_for_a_non_line_model_is_refused() -> None:
    from dlstack.compress import export_package

    result = lines_result()
    with pytest.raises(DataError, match="decoder must be one of"):
        export_package(
            result,
            "/nonexistent",
            "lines",
            sample=np.zeros((1, 1, 32, 64), np.float32),
            decoder="viterbi",
        )


def test_drift_reference_summarizes_each_line_at_its_own_width(package_dir: Path) -> None:
    """Serving logs a line's own pixels; the reference must summarize train lines the
    same way, not padded to the widest (padding would shift every intensity down)."""
    from ctc_lines import lines_snapshot
    from dlstack.serve._drift import compare, predicted_labels, read_lengths, reference_sample
    from dlstack.serve._predlog import input_statistics

    pkg, snap = load_package(package_dir), lines_snapshot()
    ref = reference_sample(pkg, snap)
    own = line_pixels("train")
    expected = [float(line.mean()) / 255 for line in own]
    np.testing.assert_allclose(ref.input_mean, expected, rtol=1e-5)
    # the answers compared are the lengths read, in the check's own categories
    labels = predicted_labels(pkg.spec)
    assert set(ref.predicted.tolist()) <= set(labels) and labels[0] == "0"
    assert read_lengths(["", "12", "12345", "1234567890"]).tolist() == ["0", "1-3", "4-6", "10+"]
    # the same lines as serving logs them: no drift in what the lines look like
    stats = [input_statistics(line[None]) for line in own]
    served = dataclasses.replace(
        ref,
        input_mean=np.concatenate([s["input_mean"] for s in stats]),
        input_ink=np.concatenate([s["input_ink"] for s in stats]),
    )
    checks = {c.name: c for c in compare(ref, served, labels, "length of the text read")}
    assert not checks["input intensity"].drifted and not checks["ink share"].drifted
    assert "length of the text read" in checks
