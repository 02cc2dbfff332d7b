"""The Open Inference Protocol (KServe v2) over HTTP/JSON, with Triton's binary tensor data.

What KServe and Triton clients send and expect, parsed and checked against a package's
spec without trusting anything in the request:

- an inference request is ``{"id"?, "parameters"?, "inputs": [{"name", "shape",
  "datatype", "data" | "parameters": {"binary_data_size": n}}], "outputs"?: [{"name",
  "parameters"?: {"binary_data": bool}}]}``;
- with the binary tensor data extension the JSON is followed by the raw tensors, its
  length in the ``Inference-Header-Content-Length`` header, and binary outputs come back
  the same way (``binary_data`` per output or ``binary_data_output`` for all);
- an error is ``{"error": "<message>"}`` with a 4xx/5xx status.

A package's model has one input (its model.json ``input``, FP32 ``[-1, C, H, W]`` or
``[-1, D]``), or several (``inputs``: an image ``"image"`` and a table row ``"features"``,
sent together in one request, with the same N), and three outputs: the logits the ONNX
graph returns, their softmax (``probabilities``) and the top label (``label``, BYTES).

>>> from types import SimpleNamespace as NS
>>> spec = NS(name="digits", input=NS(name="input", shape=[-1, 1, 2, 2]),
...           output=NS(name="logits"), labels=["0", "1"])
>>> req = parse_infer_request(
...     b'{"id": "r1", "inputs": [{"name": "input", "shape": [1, 1, 2, 2],'
...     b' "datatype": "FP32", "data": [0, 0.5, 1, 0]}]}', None)
>>> model_input(req, spec, max_rows=8).shape, req.id
((1, 1, 2, 2), 'r1')
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlstack.web import BadRequest, NotFound, PayloadTooLarge

__all__ = [
    "BINARY_HEADER",
    "DATATYPES",
    "LABEL_OUTPUT",
    "PLATFORM",
    "PROBABILITIES_OUTPUT",
    "InferRequest",
    "InputTensor",
    "RequestedOutput",
    "TensorMetadata",
    "encode_infer_response",
    "input_preprocessing",
    "model_input",
    "model_metadata",
    "model_outputs",
    "parse_infer_request",
    "requested_outputs",
]

PLATFORM = "onnxruntime_onnx"  # Triton's name for this backend
BINARY_HEADER = "Inference-Header-Content-Length"
PROBABILITIES_OUTPUT = "probabilities"
LABEL_OUTPUT = "label"
# OIP datatype -> numpy dtype (little-endian, as the binary extension requires).
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_MAX_DIMS = 8


@dataclass(frozen=True)
class TensorMetadata:
    name: str
    datatype: str
    shape: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


@dataclass(frozen=True)
class InputTensor:
    """One input as received: JSON ``data`` or raw little-endian bytes (binary extension)."""

    name: str
    datatype: str
    shape: list[int]
    data: Any = None
    raw: bytes | None = None


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[InputTensor]
    outputs: list[RequestedOutput] | None  # None: all outputs
    binary_output: bool  # the request-level default (binary_data_output)
    parameters: dict[str, Any]

    @property
    def timeout_s(self) -> float | None:
        """Triton's ``timeout`` parameter (microseconds) in seconds, if given."""
        value = self.parameters.get("timeout")
        return value / 1e6 if isinstance(value, int) and value > 0 else None


def model_outputs(spec: Any) -> list[TensorMetadata]:
    """The graph's output, its probabilities, and the answer as text ("label": the class,
    or a line's text); a line reader's are per frame, (N, T, K+1)."""
    shape = list(getattr(spec.output, "shape", None) or [-1, len(spec.labels)])
    return [
        TensorMetadata(spec.output.name, "FP32", shape),
        TensorMetadata(PROBABILITIES_OUTPUT, "FP32", shape),
        TensorMetadata(LABEL_OUTPUT, "BYTES", [-1]),
    ]


def model_metadata(spec: Any, versions: list[int]) -> dict[str, Any]:
    """The OIP model metadata response, from model.json."""
    return {
        "name": spec.name,
        "versions": [str(v) for v in versions],
        "platform": PLATFORM,
        "inputs": [TensorMetadata(i.name, "FP32", list(i.shape)).as_dict() for i in _inputs(spec)],
        "outputs": [t.as_dict() for t in model_outputs(spec)],
        "parameters": {**preprocessing(spec), **output_parameters(spec)},
    }


def output_parameters(spec: Any) -> dict[str, Any]:
    """What the outputs mean, beyond a class's softmax: the task, and for a multilabel the
    sigmoid and each class's threshold, for a regression that ``probabilities`` holds the
    numbers in the target's units (``label``: JSON lists of the classes given / numbers)."""
    task = getattr(spec, "task", "classification")
    if task == "classification":
        return {}
    out: dict[str, Any] = {"task": task, "output_kind": spec.output.kind}
    if task == "ctc":
        out |= {"blank": 0, "decoder": spec.output.decoder or "greedy", "alphabet": spec.labels}
    if task == "multilabel":
        out["activation"] = "sigmoid"
        out["thresholds"] = spec.output.thresholds or [0.5] * len(spec.labels)
    return out


def _inputs(spec: Any) -> list[Any]:
    """The model's inputs (model.json ``inputs``; a spec of one ``input`` too)."""
    inputs = getattr(spec, "inputs", None)
    return list(inputs) if inputs else [spec.input]


def preprocessing(spec: Any) -> dict[str, Any]:
    """What a client must do to its data to make the input tensors, as the model was
    trained: for images, pixels / pixel_scale, then (x - mean) / std per channel, in
    ``layout``; for a table, the encoder's columns (``/predict`` with a JSON row does it).
    A model of several inputs has one such object per input name, under ``inputs``."""
    inputs = _inputs(spec)
    if len(inputs) == 1:
        return input_preprocessing(inputs[0])
    return {
        "input_kind": "several",
        "inputs": {inp.name: input_preprocessing(inp) for inp in inputs},
        "hint": 'POST /predict with {"image": base64, "row": {column: value}} prepares '
        "both as in training; an infer request sends every input, with the same N",
    }


def input_preprocessing(inp: Any) -> dict[str, Any]:
    """One input's preprocessing (see :func:`preprocessing`)."""
    if inp.kind == "table":
        encoder = inp.encoder()
        return {
            "input_kind": "table",
            "layout": inp.layout,
            "features": encoder.feature_names,
            "columns": [{"name": c.name, "kind": c.kind} for c in encoder.columns],
            "hint": 'POST /predict with {"row": {column: value}} encodes a row as in training',
        }
    return {
        "input_kind": "image",
        "layout": inp.layout,
        "color": inp.color,
        "pixel_scale": inp.pixel_scale,
        "mean": list(inp.norm.mean),
        "std": list(inp.norm.std),
        "resize": inp.resize,
        "background": inp.background,
        "hint": "tensor = (pixels / pixel_scale - mean) / std, per channel",
    }


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """Parse an inference request body; every problem is a BadRequest naming it."""
    if not body:
        raise BadRequest(
            'the request body is empty; send an inference request: {"inputs": [{"name", '
            '"shape", "datatype", "data"}]}'
        )
    json_part, binary = body, b""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            n = -1
        if not 0 < n <= len(body):
            raise BadRequest(
                f"header {BINARY_HEADER} is {header_length!r}; it must be the length of the "
                f"JSON part, between 1 and the body's {len(body)} bytes"
            )
        json_part, binary = body[:n], body[n:]
    try:
        doc = json.loads(json_part)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        hint = f"; binary tensors need the {BINARY_HEADER} header" if header_length is None else ""
        raise BadRequest(f"the request body is not valid JSON ({e}){hint}") from None
    except (RecursionError, ValueError) as e:  # RequestGuard bounds these; called directly too
        raise BadRequest(f"the request body cannot be read ({e})") from None
    if not isinstance(doc, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type(doc).__name__}")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest(f"'id' must be a string, got {json.dumps(request_id)[:40]}")
    parameters = _parameters(doc.get("parameters"), "request")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequest("'inputs' must be a non-empty list of tensors")
    inputs: list[InputTensor] = []
    offset = 0
    for i, raw in enumerate(raw_inputs):
        tensor, size = _input(raw, i)
        if size is not None:
            if offset + size > len(binary):
                raise BadRequest(
                    f"input {tensor.name!r} declares binary_data_size {size}, but only "
                    f"{len(binary) - offset} bytes of binary data are left in the body"
                )
            tensor = InputTensor(
                tensor.name, tensor.datatype, tensor.shape, raw=binary[offset : offset + size]
            )
            offset += size
        inputs.append(tensor)
    if offset != len(binary):
        raise BadRequest(
            f"the body has {len(binary) - offset} bytes of binary data that no input's "
            f"binary_data_size claims"
        )
    names = [t.name for t in inputs]
    if len(set(names)) != len(names):
        raise BadRequest(f"input names must be unique, got {names}")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise BadRequest("parameter 'binary_data_output' must be true or false")
    return InferRequest(request_id, inputs, _outputs(doc.get("outputs")), binary_output, parameters)


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"'parameters' of the {where} must be a JSON object")
    return value


def _input(raw: Any, i: int) -> tuple[InputTensor, int | None]:
    if not isinstance(raw, dict):
        raise BadRequest(f"inputs[{i}] must be a JSON object with name, shape, datatype, data")
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"inputs[{i}] needs a 'name' (a non-empty string)")
    if datatype not in DATATYPES:
        raise BadRequest(
            f"input {name!r} has datatype {json.dumps(datatype)[:40]}; OIP datatypes are "
            f"{', '.join(DATATYPES)}"
        )
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_DIMS
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise BadRequest(
            f"input {name!r} has shape {json.dumps(shape)[:60]}; a shape is a list of at "
            f"most {_MAX_DIMS} non-negative integers"
        )
    params = _parameters(raw.get("parameters"), f"input {name!r}")
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"input {name!r}: binary_data_size must be an integer >= 0")
        if "data" in raw:
            raise BadRequest(f"input {name!r} has both 'data' and binary_data_size; send one")
        return InputTensor(name, datatype, shape), size
    if "data" not in raw:
        raise BadRequest(
            f"input {name!r} has no 'data' (and no binary_data_size parameter); send its values"
        )
    return InputTensor(name, datatype, shape, data=raw["data"]), None


def _outputs(value: Any) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequest("'outputs' must be a list of {\"name\": ...} objects")
    out = []
    for i, raw in enumerate(value):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise BadRequest(f"outputs[{i}] must be an object with a 'name' string")
        params = _parameters(raw.get("parameters"), f"output {raw['name']!r}")
        binary = params.get("binary_data", False)
        if not isinstance(binary, bool):
            raise BadRequest(f"output {raw['name']!r}: binary_data must be true or false")
        if "classification" in params:
            raise BadRequest(
                f"output {raw['name']!r}: the classification extension is not supported; "
                f"request the '{LABEL_OUTPUT}' and '{PROBABILITIES_OUTPUT}' outputs instead"
            )
        out.append(RequestedOutput(raw["name"], binary))
    return out


def model_input(request: InferRequest, spec: Any, *, max_rows: int) -> Any:
    """The request's input as float32 (N, C, H, W) or (N, D), checked against the model's
    spec; for a model of several inputs a dict of them by name (every one sent, same N)."""
    inputs = _inputs(spec)
    sent = {t.name: t for t in request.inputs}
    wanted = ", ".join(f"{i.name!r} (FP32 {[-1, *i.shape[1:]]})" for i in inputs)
    absent = [i.name for i in inputs if i.name not in sent]
    extra = [n for n in sent if n not in {i.name for i in inputs}]
    if absent or extra:
        got = ", ".join(repr(t.name) for t in request.inputs)
        what = "one input" if len(inputs) == 1 else f"{len(inputs)} inputs"
        missing = f"; missing {', '.join(map(repr, absent))}" if absent and len(inputs) > 1 else ""
        raise BadRequest(f"model {spec.name} takes {what}, {wanted}; got {got}{missing}")
    arrays = {i.name: _tensor(sent[i.name], i, spec.name, max_rows) for i in inputs}
    if len({len(a) for a in arrays.values()}) != 1:
        counts = ", ".join(f"{n} {len(a)}" for n, a in arrays.items())
        raise BadRequest(
            f"the inputs of model {spec.name} must have the same number of rows N; got {counts}"
        )
    return arrays if len(inputs) > 1 else arrays[inputs[0].name]


def _tensor(t: InputTensor, inp: Any, model: str, max_rows: int) -> np.ndarray:
    """One input tensor as float32, checked against its spec ``inp``."""
    dims = list(inp.shape[1:])
    want_shape = [-1, *dims]
    if t.datatype != "FP32":
        raise BadRequest(f"input {t.name!r} has datatype {t.datatype}; model {model} takes FP32")
    fits = len(t.shape) == len(want_shape) and all(
        w in (g, -1) and g > 0 for g, w in zip(t.shape[1:], dims, strict=True)
    )
    if not fits or t.shape[0] < 1:
        raise BadRequest(
            f"input {t.name!r} has shape {t.shape}; model {model} takes {want_shape} "
            f"(N >= 1 rows of {dims})"
        )
    rows = t.shape[0]
    if rows > max_rows:
        raise PayloadTooLarge(
            f"input {t.name!r} has {rows} rows; at most {max_rows} per request "
            f"(max_request_batch); split it into several requests"
        )
    count = math.prod(t.shape)
    if t.raw is not None:
        if len(t.raw) != count * 4:
            raise BadRequest(
                f"input {t.name!r} has {len(t.raw)} bytes of binary data; FP32 {t.shape} "
                f"needs {count * 4}"
            )
        x = np.frombuffer(t.raw, dtype="<f4").reshape(t.shape).astype(np.float32)
    else:
        x = _json_array(t, count)
    if not np.isfinite(x).all():
        raise BadRequest(f"input {t.name!r} contains NaN or infinite values")
    return x


def _json_array(t: InputTensor, count: int) -> np.ndarray:
    try:
        a = np.asarray(t.data)
    except (ValueError, TypeError):
        raise BadRequest(
            f"input {t.name!r}: 'data' must be a (flat or nested, not ragged) list of numbers"
        ) from None
    if a.dtype.kind not in "biuf":
        raise BadRequest(f"input {t.name!r}: 'data' must hold numbers, got {a.dtype.kind!r} data")
    if a.size != count:
        raise BadRequest(f"input {t.name!r} has {a.size} values; shape {t.shape} needs {count}")
    return a.astype(np.float32).reshape(t.shape)


def requested_outputs(request: InferRequest, spec: Any) -> list[RequestedOutput]:
    """The outputs to send (all by default), each checked to exist."""
    names = [t.name for t in model_outputs(spec)]
    if request.outputs is None:
        return [RequestedOutput(n, request.binary_output) for n in names]
    for o in request.outputs:
        if o.name not in names:
            raise BadRequest(
                f"requested output {o.name!r} is not an output of model {spec.name}; "
                f"its outputs are {', '.join(names)}"
            )
    return [RequestedOutput(o.name, o.binary or request.binary_output) for o in request.outputs]


def encode_infer_response(
    *,
    model_name: str,
    model_version: int,
    request_id: str | None,
    outputs: list[tuple[RequestedOutput, str, np.ndarray]],
    parameters: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """(requested output, datatype, array) triples -> body bytes and headers; the
    response's ``parameters`` (e.g. ``input_out_of_range``) when there are any."""
    doc: dict[str, Any] = {"model_name": model_name, "model_version": str(model_version)}
    if request_id is not None:
        doc["id"] = request_id
    if parameters:
        doc["parameters"] = parameters
    entries, chunks = [], []
    for requested, datatype, array in outputs:
        entry: dict[str, Any] = {
            "name": requested.name,
            "datatype": datatype,
            "shape": list(array.shape),
        }
        if requested.binary:
            data = _bytes_binary(array) if datatype == "BYTES" else array.astype("<f4").tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = array.reshape(-1).tolist()
        entries.append(entry)
    doc["outputs"] = entries
    header = json.dumps(doc, separators=(",", ":")).encode()
    if not chunks:
        return header, {"content-type": "application/json"}
    return b"".join([header, *chunks]), {
        "content-type": "application/octet-stream",
        BINARY_HEADER: str(len(header)),
    }


def _bytes_binary(array: np.ndarray) -> bytes:
    """BYTES elements as 4-byte little-endian length + bytes, as Triton encodes them."""
    parts = []
    for value in array.reshape(-1):
        b = value.encode() if isinstance(value, str) else bytes(value)
        parts.append(len(b).to_bytes(4, "little") + b)
    return b"".join(parts)


def unknown_model(name: str, version: str | None, available: dict[str, list[int]]) -> NotFound:
    """The 404 for a model or version that is not loaded, listing what is."""
    listing = "; ".join(f"{n} (versions {', '.join(map(str, v))})" for n, v in available.items())
    what = f"model {name!r}" + (f" version {version!r}" if version is not None else "")
    return NotFound(f"{what} is not loaded; loaded: {listing or 'none'}")
