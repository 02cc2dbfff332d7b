"""Reading a request body: an inference request's tensors, or the image of /predict.

Bodies are bounded before they get here (``dlstack.web.RequestGuard``: size, time, JSON shape);
what is checked here is what they hold. Every refusal names what was sent and what is read.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from dlstack.inputs import PreparedImage, decode_image, prepare_with, to_model_input
from dlstack.package import PackageSpec
from dlstack.serve._protocol import BINARY_HEADER, InferRequest, model_input, parse_infer_request
from dlstack.serve._registry import ServedModel
from dlstack.web import BadRequest, UnsupportedMedia

__all__ = [
    "check_identity_encoding",
    "image_bytes",
    "prepare_image_input",
    "read_infer_request",
]

PARSE_INLINE_BYTES = 256 * 1024  # larger inference bodies are parsed in a worker thread


def check_identity_encoding(request: Request) -> None:
    """Refuse a compressed body (415): bodies are read as sent, never inflated."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", ""):
        raise UnsupportedMedia(
            f"Content-Encoding {encoding!r} is not accepted; send the body uncompressed"
        )


async def read_infer_request(
    request: Request, served: ServedModel, max_rows: int
) -> tuple[InferRequest, np.ndarray]:
    """The parsed OIP request and the model input it holds, x: (N, C, H, W)."""
    body = await request.body()
    binary_header = request.headers.get(BINARY_HEADER)
    if len(body) > PARSE_INLINE_BYTES:  # a big JSON body would stall the event loop
        return await run_in_threadpool(_parse, body, binary_header, served.spec, max_rows)
    return _parse(body, binary_header, served.spec, max_rows)


def _parse(
    body: bytes, binary_header: str | None, spec: PackageSpec, max_rows: int
) -> tuple[InferRequest, np.ndarray]:
    req = parse_infer_request(body, binary_header)
    return req, model_input(req, spec, max_rows=max_rows)


async def image_bytes(request: Request, limit: int) -> bytes:
    """The image of a /predict request: multipart file, base64 JSON or the raw body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=8, max_part_size=limit)
        except StarletteHTTPException as e:
            raise BadRequest(f"the multipart body cannot be read: {e.detail}") from None
        files = [v for v in form.values() if not isinstance(v, str)]
        if not files:
            raise BadRequest("the multipart form has no file; send the image as field 'file'")
        data = await files[0].read()
    elif media == "application/json":
        data = _base64_image(await request.body())
    elif media.startswith("image/") or media in ("application/octet-stream", ""):
        data = await request.body()
    else:
        raise UnsupportedMedia(
            f"content type {media!r} is not read here; send multipart/form-data (field "
            f"'file'), application/json {{\"image\": base64}} or the image bytes as image/*"
        )
    if not data:
        raise BadRequest("the image is empty (0 bytes); send a PNG, JPEG or other image file")
    return data


async def table_row(request: Request, limit: int) -> dict[str, Any]:
    """The row of a /predict request to a table model: ``{"row": {column: value}}``."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMedia(
            f'this model takes a table row: send application/json {{"row": {{column: '
            f"value, ...}}}}, got content type {media or 'none'!r}"
        )
    body = await request.body()
    if len(body) > limit:
        raise BadRequest(f"the body has {len(body):,} bytes, more than the {limit:,} accepted")
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"the JSON body is not valid JSON ({e})") from None
    except (RecursionError, ValueError) as e:
        raise BadRequest(f"the JSON body cannot be read ({e})") from None
    row = doc.get("row") if isinstance(doc, dict) else None
    if not isinstance(row, dict):
        raise BadRequest('the JSON body must be {"row": {"column": value, ...}}')
    return row


def _base64_image(body: bytes) -> bytes:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"the JSON body is not valid JSON ({e})") from None
    except (RecursionError, ValueError) as e:  # RequestGuard bounds these; called directly too
        raise BadRequest(f"the JSON body cannot be read ({e})") from None
    image = doc.get("image") if isinstance(doc, dict) else None
    if not isinstance(image, str):
        raise BadRequest('the JSON body must be {"image": "<base64 of the image file>"}')
    if image.startswith("data:") and "," in image:
        image = image.split(",", 1)[1]  # a data URL, as a canvas's toDataURL() makes
    try:
        return base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("'image' is not valid base64") from None


def prepare_image_input(
    data: bytes, spec: PackageSpec, max_pixels: int
) -> tuple[np.ndarray, PreparedImage]:
    """Image bytes -> model input (1, C, H, W) and the prepared image, as in training."""
    image, label = decode_image(data, name="the uploaded image", max_pixels=max_pixels)
    prepared = prepare_with(image, spec.input.image_spec(), name=label)
    norm = spec.input.norm
    return to_model_input(prepared.pixels[None], norm.mean, norm.std), prepared
