"""The server's OpenAPI contract: response models and the documented request bodies.

The inference endpoints read their bodies themselves (JSON, or JSON followed by binary
tensors, and checked with messages that name the problem), so their request schemas are
declared here for ``/docs`` and for schemathesis rather than parsed by FastAPI.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "ADMIN_ERRORS",
    "COMMON_ERRORS",
    "FEEDBACK_ERRORS",
    "INFER",
    "METRICS",
    "NOT_READY",
    "PREDICT",
    "CharacterOut",
    "ErrorBody",
    "FeedbackIn",
    "FeedbackOut",
    "ModelMetadata",
    "PredictionOut",
]


class ErrorBody(BaseModel):
    """Every error: the Open Inference Protocol's error response."""

    error: str


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class TensorMetadataDoc(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadataDoc]
    outputs: list[TensorMetadataDoc]
    # dlstack's extension: the preprocessing the input tensor must have (scale, mean/std,
    # layout; a table's columns), so a KServe/Triton client can build it.
    parameters: dict[str, Any] = Field(default_factory=dict)


class ModelSummary(BaseModel):
    name: str
    versions: list[int]
    current: int
    labels: list[str]
    input_shape: list[int]  # the first input's (the one input of most models)
    inputs: dict[str, list[int]] = Field(default_factory=dict)  # every input's shape by name


class Ranked(BaseModel):
    label: str
    confidence: float


class CharacterOut(BaseModel):
    char: str
    confidence: float


class PredictionOut(BaseModel):
    prediction_id: str = Field(description="Pass it to POST /feedback to flag the answer.")
    model: str
    version: int
    label: str = Field(
        description="The class; multilabel: the classes given, as a JSON list; regression: "
        "the numbers, as a JSON list; ctc: the text read."
    )
    confidence: float | None = Field(
        description="The top class's probability; multilabel: the least sure decision's; "
        "regression: null; ctc: the least sure character's."
    )
    top_k: list[Ranked]
    notices: list[str] = Field(description="What preprocessing changed in the image.")
    warnings: list[str] = Field(
        default_factory=list,
        description="Why the answer may be unreliable: an input far outside the training "
        "range (which input or column, how far, the likely cause).",
    )
    task: Literal["classification", "multilabel", "regression", "ctc"] = "classification"
    labels: list[str] | None = Field(
        default=None, description="multilabel: the classes given (probability >= threshold)."
    )
    probabilities: dict[str, float] | None = Field(
        default=None, description="multilabel: every class's probability."
    )
    values: dict[str, float] | None = Field(
        default=None, description="regression: the predicted number of each target."
    )
    text: str | None = Field(default=None, description="ctc: the text read from the line.")
    characters: list[CharacterOut] | None = Field(
        default=None, description="ctc: each character read, in order, with its confidence."
    )


class FeedbackIn(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=64)
    label: str | None = Field(
        default=None,
        max_length=64,
        description="The right answer: a class; multilabel: classes separated by | (or a "
        "JSON list); regression: the number (a JSON list of them for several targets).",
    )
    note: str | None = Field(default=None, max_length=1000)


class FeedbackOut(BaseModel):
    example_id: str = Field(description="The flagged input's id in the catalog (sha256).")
    queued: bool = Field(description="False when it was already waiting to be labeled.")


class RepositoryRequest(BaseModel):
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description='{"version": "3"} picks a version; default: the newest on disk (load) '
        "or every version (unload).",
    )


class RepositoryEntry(BaseModel):
    name: str
    version: str
    state: Literal["READY", "UNAVAILABLE"]
    current: bool


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Bad input: the message names the problem",
        401: "No API key, or an unknown one",
        403: "The key's role may not do this",
        404: "No such model, version or prediction",
        413: "Body or batch over the configured limits",
        415: "Content type or encoding not accepted",
        422: "A parameter or body field is invalid",
        429: "The model's queue is full (see Retry-After)",
        503: "The deadline cannot be met, or nothing is loaded",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}


COMMON_ERRORS = _errors(400, 401, 403, 404, 413, 422)
NOT_READY = _errors(503)
ADMIN_ERRORS = _errors(400, 401, 403, 404)
FEEDBACK_ERRORS = _errors(400, 404, 503)
METRICS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}
}

# The same schemes the other endpoints declare through FastAPI's security dependencies.
_SECURITY: list[dict[str, list[str]]] = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
_TENSOR_IN = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {
            "type": "string",
            "enum": ["BOOL", "UINT8", "INT8", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"],
        },
        "data": {"type": "array", "items": {}},
        "parameters": {
            "type": "object",
            "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
        },
    },
}
_INFER_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {
            "type": "object",
            "properties": {
                "binary_data_output": {"type": "boolean"},
                "timeout": {"type": "integer", "description": "Microseconds (Triton)."},
            },
        },
        "inputs": {"type": "array", "minItems": 1, "items": _TENSOR_IN},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "parameters": {
                        "type": "object",
                        "properties": {"binary_data": {"type": "boolean"}},
                    },
                },
            },
        },
    },
}
_INFER_RESPONSE = {
    "type": "object",
    "required": ["model_name", "outputs"],
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "outputs": {"type": "array", "items": {"type": "object"}},
        "parameters": {
            "type": "object",
            "description": "input_out_of_range: present when an input lies far outside the "
            "training range (which input or column, how far, the likely cause); the "
            "outputs are given as usual",
            "properties": {"input_out_of_range": {"type": "string"}},
        },
    },
}

INFER: dict[str, Any] = {
    "tags": ["oip"],
    "summary": "Inference (Open Inference Protocol)",
    "responses": {
        200: {
            "description": "Outputs: logits, probabilities, label (JSON, or JSON followed by "
            "binary tensors with the Inference-Header-Content-Length header)",
            "content": {
                "application/json": {"schema": _INFER_RESPONSE},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **_errors(400, 401, 403, 404, 413, 415, 429, 503),
    },
    "openapi_extra": {
        "security": _SECURITY,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _INFER_REQUEST},
                "application/octet-stream": {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": "JSON header (its length in the "
                        "Inference-Header-Content-Length header) followed by raw tensors",
                    }
                },
            },
        },
    },
}

PREDICT: dict[str, Any] = {
    "tags": ["convenience"],
    "summary": "Predict one image",
    "description": "Send an image file (PNG, JPEG, ...) as multipart field 'file', as "
    '{"image": "<base64>"} JSON, or as the raw body; it is decoded, converted to the '
    "model's color mode, background and size, and normalized as in training (model.json).",
    "responses": _errors(400, 401, 403, 404, 413, 415, 422, 429, 503),
    "openapi_extra": {
        "security": _SECURITY,
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {"image": {"type": "string", "format": "byte"}},
                    }
                },
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
}
