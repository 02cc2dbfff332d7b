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

from dlstack.inputs import PreparedImage, decode_image, line_groups, prepare_with, to_model_input
from dlstack.package import PackageSpec
from dlstack.serve._protocol import BINARY_HEADER, InferRequest, model_input, parse_infer_request
from dlstack.serve._registry import ServedModel
from dlstack.web import BadRequest, UnsupportedMedia

__all__ = [
    "check_identity_encoding",
    "image_and_row",
    "image_bytes",
    "prepare_image_input",
    "read_infer_request",
    "table_row",
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
) -> tuple[InferRequest, Any]:
    """The parsed OIP request and the model input it holds, x: (N, C, H, W) or (N, D),
    or a dict of them by input name for a model of several inputs."""
    body = await request.body()
    binary_header = request.headers.get(BINARY_HEADER)
    if len(body) > PARSE_INLINE_BYTES:  # a big JSON body would stall the event loop
        return await run_in_threadpool(_parse, body, binary_header, served.spec, max_rows)
    return _parse(body, binary_header, served.spec, max_rows)


def _parse(
    body: bytes, binary_header: str | None, spec: PackageSpec, max_rows: int
) -> tuple[InferRequest, Any]:
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
    doc = _json_body(body)
    row = doc.get("row") if isinstance(doc, dict) else None
    if not isinstance(row, dict):
        raise BadRequest('the JSON body must be {"row": {"column": value, ...}}')
    return row


async def image_and_row(request: Request, limit: int) -> tuple[bytes, dict[str, Any]]:
    """The image and the table row of a /predict request to a model of both inputs:
    JSON ``{"image": base64, "row": {column: value}}``, or a multipart form with the image
    as field ``file`` and the row, as JSON, as field ``row``. A missing one is named."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    takes = (
        'this model takes an image and a table row: send application/json {"image": '
        '"<base64>", "row": {column: value}}, or multipart/form-data with fields \'file\' '
        "(the image) and 'row' (JSON)"
    )
    if media == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=8, max_part_size=limit)
        except StarletteHTTPException as e:
            raise BadRequest(f"the multipart body cannot be read: {e.detail}") from None
        files = [v for v in form.values() if not isinstance(v, str)]
        text = form.get("row")
        missing = [
            n
            for n, absent in (("'file' (the image)", not files), ("'row'", text is None))
            if absent
        ]
        if missing:
            raise BadRequest(f"the multipart form has no field {' and no '.join(missing)}; {takes}")
        row = _json_body(str(text).encode(), what="field 'row'")
        data = await files[0].read()
    elif media == "application/json":
        body = await request.body()
        if len(body) > limit:
            raise BadRequest(f"the body has {len(body):,} bytes, more than the {limit:,} accepted")
        doc = _json_body(body)
        doc = doc if isinstance(doc, dict) else {}
        missing = [f"{n!r}" for n in ("image", "row") if doc.get(n) is None]
        if missing:
            raise BadRequest(f"the JSON body has no {' and no '.join(missing)}; {takes}")
        data, row = _decode_base64(doc["image"]), doc["row"]
    else:
        raise UnsupportedMedia(f"content type {media or 'none'!r} is not read here; {takes}")
    if not isinstance(row, dict):
        raise BadRequest(f"the row must be a JSON object of column: value; {takes}")
    if not data:
        raise BadRequest("the image is empty (0 bytes); send a PNG, JPEG or other image file")
    return data, row


def _json_body(body: bytes, what: str = "the JSON body") -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"{what} is not valid JSON ({e})") from None
    except (RecursionError, ValueError) as e:  # RequestGuard bounds these; called directly too
        raise BadRequest(f"{what} cannot be read ({e})") from None


def _base64_image(body: bytes) -> bytes:
    doc = _json_body(body)
    image = doc.get("image") if isinstance(doc, dict) else None
    if not isinstance(image, str):
        raise BadRequest('the JSON body must be {"image": "<base64 of the image file>"}')
    return _decode_base64(image)


def _decode_base64(image: Any) -> bytes:
    if not isinstance(image, str):
        raise BadRequest("'image' must be a string: the base64 of the image file")
    if image.startswith("data:") and "," in image:
        image = image.split(",", 1)[1]  # a data URL, as a canvas's toDataURL() makes
    try:
        return base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("'image' is not valid base64") from None


def prepare_image_input(
    data: bytes, spec: PackageSpec, max_pixels: int
) -> tuple[np.ndarray, PreparedImage]:
    """Image bytes -> the image input (1, C, H, W) and the prepared image, as in training."""
    inp = spec.input_of_kind("image")
    if inp is None:
        raise BadRequest(f"model {spec.name} takes no image")
    image, label = decode_image(data, name="the uploaded image", max_pixels=max_pixels)
    prepared = prepare_with(image, inp.image_spec(), name=label)
    if inp.variable_width:  # a line runs at its own width, rounded as in training
        fill = 255 if inp.background == "light" else 0
        ((_, batch),) = line_groups([prepared.pixels], fill)
        return to_model_input(batch, inp.norm.mean, inp.norm.std), prepared
    return to_model_input(prepared.pixels[None], inp.norm.mean, inp.norm.std), prepared
