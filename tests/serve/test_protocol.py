"""Open Inference Protocol parsing and encoding, without a server."""

from __future__ import annotations

import json
import struct
from types import SimpleNamespace as NS

import numpy as np
import pytest

from dlstack.package import InputSpec
from dlstack.serve._protocol import (
    encode_infer_response,
    model_input,
    model_metadata,
    parse_infer_request,
    requested_outputs,
)
from dlstack.web import BadRequest, PayloadTooLarge

SPEC = NS(
    name="digits",
    input=InputSpec.model_validate(
        {
            "name": "input",
            "dtype": "float32",
            "shape": [-1, 1, 2, 2],
            "layout": "NCHW",
            "pixel_scale": 255,
            "normalization": {"mean": [0.1], "std": [0.3]},
            "color": "grayscale",
        }
    ),
    output=NS(name="logits"),
    labels=["a", "b", "c"],
)


def _request(**tensor) -> bytes:
    base = {"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [0, 1, 2, 3]}
    return json.dumps({"inputs": [{**base, **tensor}]}).encode()


def test_metadata_describes_the_input_and_three_outputs() -> None:
    meta = model_metadata(SPEC, [1, 2])
    assert meta["versions"] == ["1", "2"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 2, 2]}]
    assert [o["name"] for o in meta["outputs"]] == ["logits", "probabilities", "label"]
    assert meta["parameters"]["mean"] == [0.1] and meta["parameters"]["pixel_scale"] == 255


def test_json_input_flat_or_nested_becomes_float32_nchw() -> None:
    flat = model_input(parse_infer_request(_request(), None), SPEC, max_rows=4)
    nested = model_input(
        parse_infer_request(_request(data=[[[[0, 1], [2, 3]]]]), None), SPEC, max_rows=4
    )
    assert flat.dtype == np.float32 and flat.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(flat, nested)


def test_binary_tensor_extension_round_trip() -> None:
    values = np.arange(8, dtype="<f4").reshape(2, 1, 2, 2)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [2, 1, 2, 2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": values.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    req = parse_infer_request(header + values.tobytes(), str(len(header)))
    np.testing.assert_array_equal(model_input(req, SPEC, max_rows=4), values)
    outputs = requested_outputs(req, SPEC)
    assert all(o.binary for o in outputs)
    labels = np.array(["a", "bb"], dtype=object)
    logits = np.ones((2, 3), np.float32)
    body, headers = encode_infer_response(
        model_name="digits",
        model_version=1,
        request_id=None,
        outputs=[(outputs[0], "FP32", logits), (outputs[2], "BYTES", labels)],
    )
    n = int(headers["Inference-Header-Content-Length"])
    doc = json.loads(body[:n])
    assert [o["parameters"]["binary_data_size"] for o in doc["outputs"]] == [24, 4 + 1 + 4 + 2]
    rest = body[n:]
    np.testing.assert_array_equal(np.frombuffer(rest[:24], "<f4").reshape(2, 3), logits)
    # BYTES: 4-byte little-endian length, then the bytes (Triton's encoding).
    assert rest[24:] == struct.pack("<I", 1) + b"a" + struct.pack("<I", 2) + b"bb"


@pytest.mark.parametrize(
    ("body", "header", "says"),
    [
        (b"", None, "empty"),
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"inputs": []}', None, "non-empty list"),
        (b'{"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}', None, "'name'"),
        (_request(datatype="FP31"), None, "OIP datatypes are"),
        (_request(shape=[1, -1]), None, "non-negative integers"),
        (_request(shape="1,1,2,2"), None, "non-negative integers"),
        (b'{"inputs": [{"name": "i", "shape": [1], "datatype": "FP32"}]}', None, "no 'data'"),
        (_request(), "9999", "Inference-Header-Content-Length"),
        (_request(), "abc", "Inference-Header-Content-Length"),
        (b'{"id": 5, "inputs": [{}]}', None, "'id' must be a string"),
    ],
)
def test_malformed_requests_are_bad_requests_naming_the_problem(
    body: bytes, header: str | None, says: str
) -> None:
    with pytest.raises(BadRequest, match=says):
        parse_infer_request(body, header)


@pytest.mark.parametrize(
    ("tensor", "says"),
    [
        ({"name": "pixels"}, "takes one input, 'input'"),
        ({"datatype": "FP64"}, "datatype FP64; model digits takes FP32"),
        ({"shape": [1, 2, 2]}, r"takes \[-1, 1, 2, 2\]"),
        ({"shape": [0, 1, 2, 2], "data": []}, "N >= 1"),
        ({"data": [0, 1, 2]}, "has 3 values; shape"),
        ({"data": ["0", "1", "2", "3"]}, "must hold numbers"),
        ({"data": [[0, 1], [2]]}, "not ragged"),
        ({"data": [0, 1, 2, float("nan")]}, "NaN"),
    ],
)
def test_inputs_that_do_not_fit_the_model_are_bad_requests(tensor: dict, says: str) -> None:
    req = parse_infer_request(_request(**tensor), None)
    with pytest.raises(BadRequest, match=says):
        model_input(req, SPEC, max_rows=4)


def test_more_rows_than_max_request_batch_is_payload_too_large() -> None:
    req = parse_infer_request(_request(shape=[5, 1, 2, 2], data=[0.0] * 20), None)
    with pytest.raises(PayloadTooLarge, match="at most 4 per request"):
        model_input(req, SPEC, max_rows=4)


def test_binary_sizes_must_add_up() -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, 1, 2, 2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 12},
                }
            ]
        }
    ).encode()
    req = parse_infer_request(header + b"\0" * 12, str(len(header)))
    with pytest.raises(BadRequest, match="needs 16"):
        model_input(req, SPEC, max_rows=4)
    with pytest.raises(BadRequest, match="no input's binary_data_size claims"):
        parse_infer_request(header + b"\0" * 20, str(len(header)))


def test_unknown_requested_output_is_named() -> None:
    body = json.loads(_request())
    body["outputs"] = [{"name": "embedding"}]
    req = parse_infer_request(json.dumps(body).encode(), None)
    with pytest.raises(BadRequest, match=r"'embedding' is not an output.*logits, probabilities"):
        requested_outputs(req, SPEC)
