"""The HTTP API at unit level (TestClient): OIP endpoints, /predict, bad input, metrics."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serve_helpers import serve_config

from dlstack.package import load_package
from dlstack.serve._app import create_app


@pytest.fixture(scope="module")
def client(exported: Path) -> Iterator[TestClient]:
    app = create_app([exported], config=serve_config(max_request_bytes=64 * 1024))
    with TestClient(app) as c:
        yield c


def _infer_body(x: np.ndarray, **extra) -> dict:
    tensor = {"name": "input", "shape": list(x.shape), "datatype": "FP32"}
    return {"inputs": [{**tensor, "data": x.ravel().tolist()}], **extra}


def _error(response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"}, body  # the OIP error body, always
    return body["error"]


def test_health_and_server_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "dlstack" and "binary_tensor_data" in meta["extensions"]


def test_model_metadata_comes_from_model_json(client: TestClient, exported: Path) -> None:
    spec = load_package(exported).spec
    meta = client.get("/v2/models/digits8").json()
    assert meta["name"] == "digits8" and meta["versions"] == ["1"]
    assert meta["inputs"][0] == {"name": "input", "datatype": "FP32", "shape": spec.input.shape}
    assert meta["outputs"][0]["shape"] == [-1, len(spec.labels)]
    assert client.get("/v2/models/digits8/versions/1").json() == meta
    assert client.get("/v2/models/digits8/ready").json() == {"name": "digits8", "ready": True}
    assert client.get("/v2/models/digits8/versions/1/ready").status_code == 200
    # The preprocessing the tensor must have, enough to build it from pixels by hand.
    params = meta["parameters"]
    assert params["pixel_scale"] == 255 and params["layout"] == "NCHW"
    assert params["mean"] == spec.input.norm.mean and params["std"] == spec.input.norm.std
    pixels = np.arange(64, dtype=np.uint8).reshape(1, 8, 8)
    by_hand = (pixels / params["pixel_scale"] - params["mean"][0]) / params["std"][0]
    from dlstack.inputs import to_model_input

    want = to_model_input(pixels, spec.input.norm.mean, spec.input.norm.std)
    assert np.allclose(by_hand[:, None], want, atol=1e-6)


def test_infer_json_matches_the_package_and_echoes_the_request_id(
    client: TestClient, exported: Path, test_inputs: np.ndarray
) -> None:
    x = test_inputs[:3]
    r = client.post("/v2/models/digits8/infer", json=_infer_body(x, id="req-42"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == "req-42" and doc["model_name"] == "digits8"
    assert doc["model_version"] == "1"
    out = {o["name"]: o for o in doc["outputs"]}
    pkg = load_package(exported)
    logits = np.array(out["logits"]["data"], np.float32).reshape(out["logits"]["shape"])
    np.testing.assert_array_equal(logits, pkg.logits(x))
    probs = np.array(out["probabilities"]["data"]).reshape(3, -1)
    np.testing.assert_allclose(probs, pkg.predict_arrays(x), rtol=1e-6)
    assert out["label"]["datatype"] == "BYTES"
    assert out["label"]["data"] == [pkg.labels[i] for i in probs.argmax(1)]


def test_infer_binary_tensors(client: TestClient, test_inputs: np.ndarray) -> None:
    x = test_inputs[:2].astype("<f4")
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    ).encode()
    r = client.post(
        "/v2/models/digits8/versions/1/infer",
        content=header + x.tobytes(),
        headers={
            "Inference-Header-Content-Length": str(len(header)),
            "content-type": "application/octet-stream",
        },
    )
    assert r.status_code == 200, r.text
    n = int(r.headers["Inference-Header-Content-Length"])
    doc = json.loads(r.content[:n])
    assert [o["name"] for o in doc["outputs"]] == ["probabilities"]
    probs = np.frombuffer(r.content[n:], "<f4").reshape(2, -1)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)


def _tensor(**fields) -> bytes:
    base = {"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": []}
    return json.dumps({"inputs": [{**base, **fields}]}).encode()


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"", 400, "empty"),
        (b"\x89PNG not json", 400, "not valid JSON"),
        (_tensor(name="pixels"), 400, "takes one input, 'input'"),
        (_tensor(datatype="INT64"), 400, "takes FP32"),
        (_tensor(shape=[1, 1, 28, 28]), 400, r"takes \[-1, 1, 8, 8\]"),
        (_tensor(data=[1, 2]), 400, "has 2 values"),
        (_tensor(shape=[300, 1, 8, 8]), 413, "at most 256 per request"),
    ],
)
def test_bad_inference_requests_get_a_4xx_naming_the_problem(
    client: TestClient, body: bytes, status: int, says: str
) -> None:
    r = client.post(
        "/v2/models/digits8/infer", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == status
    assert re.search(says, _error(r))


def test_unknown_model_or_version_is_404_listing_what_is_loaded(client: TestClient) -> None:
    r = client.post("/v2/models/letters/infer", json={"inputs": []})
    assert r.status_code == 404 and "digits8 (versions 1)" in _error(r)
    assert client.get("/v2/models/digits8/versions/7").status_code == 404
    assert client.get("/v2/models/digits8/versions/x/ready").status_code == 404
    assert client.get("/no/such/route").status_code == 404


def test_compressed_bodies_are_refused_not_inflated(client: TestClient) -> None:
    r = client.post(
        "/v2/models/digits8/infer",
        content=zlib.compress(b"{}" * 1000),
        headers={"content-encoding": "deflate", "content-type": "application/json"},
    )
    assert r.status_code == 415 and "Content-Encoding" in _error(r)


def test_body_over_the_limit_is_413_by_header_or_by_counting(client: TestClient) -> None:
    big = b"0" * (64 * 1024 + 1)
    r = client.post("/v2/models/digits8/infer", content=big)
    assert r.status_code == 413 and "max_request_bytes" in _error(r)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(70):
            yield b"0" * 1024

    r = client.post("/v2/models/digits8/infer", content=chunks())
    assert r.status_code == 413 and "max_request_bytes" in _error(r)


def test_predict_multipart_base64_and_raw_agree(client: TestClient, digit_png: bytes) -> None:
    multipart = client.post("/predict", files={"file": ("d.png", digit_png, "image/png")})
    as_json = client.post("/predict", json={"image": base64.b64encode(digit_png).decode()})
    data_url = "data:image/png;base64," + base64.b64encode(digit_png).decode()
    as_data_url = client.post("/predict?top_k=5", json={"image": data_url})
    raw = client.post("/predict", content=digit_png, headers={"content-type": "image/png"})
    answers = [r.json() for r in (multipart, as_json, as_data_url, raw)]
    assert all(r.status_code == 200 for r in (multipart, as_json, as_data_url, raw))
    assert len({(a["label"], a["confidence"]) for a in answers}) == 1
    assert len(answers[0]["top_k"]) == 3 and len(answers[2]["top_k"]) == 5
    best = {"label": answers[0]["label"], "confidence": answers[0]["confidence"]}
    assert answers[0]["top_k"][0] == best
    assert answers[0]["model"] == "digits8" and answers[0]["version"] == 1


def test_predict_preprocesses_as_the_package_does(
    client: TestClient, exported: Path, tmp_path: Path
) -> None:
    # A big, light-background RGB image: resized, inverted and grayscaled, as predict_images.
    image = Image.new("RGB", (64, 48), "white")
    image.paste((0, 0, 0), (20, 10, 40, 40))
    path = tmp_path / "big.png"
    image.save(path)
    expected = load_package(exported).predict_images([path], top_k=3)[0]
    got = client.post("/predict", content=path.read_bytes(), headers={"content-type": "image/png"})
    body = got.json()
    assert body["label"] == expected.label
    assert body["confidence"] == pytest.approx(expected.confidence, rel=1e-6)
    assert body["notices"] == expected.notices and body["notices"]


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge image, with a tiny (truncated) body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


@pytest.mark.parametrize(
    ("content", "content_type", "status", "says"),
    [
        (b"", "image/png", 400, "empty"),
        (b"definitely not an image", "image/png", 400, "not an image dlstack can read"),
        (_bomb_png(20_000, 20_000), "image/png", 400, "pixels"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "image/png", 400, "not an image"),
        (b"{}", "text/plain", 415, "content type 'text/plain'"),
        (b'{"img": 1}', "application/json", 400, '{"image"'),
        (b'{"image": "***"}', "application/json", 400, "not valid base64"),
        (b"{", "application/json", 400, "not valid JSON"),
    ],
)
def test_bad_images_get_a_4xx_naming_the_problem(
    client: TestClient, content: bytes, content_type: str, status: int, says: str
) -> None:
    r = client.post("/predict", content=content, headers={"content-type": content_type})
    assert r.status_code == status
    assert says in _error(r)


def test_predict_multipart_without_a_file(client: TestClient) -> None:
    r = client.post("/predict", data={"note": "hello"}, files={})
    assert r.status_code in (400, 415)
    r = client.post("/predict", files={"other": ("x.txt", b"", "text/plain")})
    assert r.status_code == 400 and "empty" in _error(r)


def test_predict_query_validation_is_a_json_error(client: TestClient, digit_png: bytes) -> None:
    r = client.post("/predict?top_k=0", content=digit_png, headers={"content-type": "image/png"})
    assert r.status_code == 422 and "top_k" in _error(r)


def test_models_listing_for_the_page(client: TestClient) -> None:
    (m,) = client.get("/models").json()
    assert m["name"] == "digits8" and m["current"] == 1 and m["labels"][0] == "0"
    assert m["input_shape"] == [-1, 1, 8, 8]


def test_metrics_count_requests_batches_and_rejections(
    client: TestClient, test_inputs: np.ndarray
) -> None:
    client.post("/v2/models/digits8/infer", json=_infer_body(test_inputs[:2]))
    client.post("/v2/models/digits8/infer", content=b"")
    text = client.get("/metrics").text
    assert 'dlstack_http_requests_total{code="200",endpoint="/v2/models/{name}/infer"' in text
    assert 'dlstack_model_requests_total{code="400",model="digits8",version="1"}' in text
    assert 'dlstack_batch_size_count{model="digits8",version="1"}' in text
    assert 'dlstack_queue_rows{model="digits8",version="1"}' in text
    assert 'dlstack_batch_limit{model="digits8",version="1"}' in text
    assert "dlstack_model_request_seconds_bucket" in text


def test_openapi_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/v2/models/{name}/infer" in schema["paths"] and "/predict" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_web_page_is_served(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "<canvas" in r.text and "/predict" in r.text


def test_several_models_at_once(exported: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "models" / "other" / "1"
    shutil.copytree(exported, other)
    spec_path = other / "model.json"
    spec = json.loads(spec_path.read_text())
    spec["name"] = "other"
    spec_path.write_text(json.dumps(spec))
    app = create_app([exported, other], config=serve_config())
    with TestClient(app) as c:
        assert {m["name"] for m in c.get("/models").json()} == {"digits8", "other"}
        assert c.get("/v2/models/other").json()["name"] == "other"
        png = io.BytesIO()
        Image.new("L", (8, 8)).save(png, format="PNG")
        r = c.post("/predict", content=png.getvalue(), headers={"content-type": "image/png"})
        assert r.status_code == 400 and "?model=NAME" in _error(r)
        r = c.post(
            "/predict?model=other", content=png.getvalue(), headers={"content-type": "image/png"}
        )
        assert r.json()["model"] == "other"
