"""The convenience routes: the web page, one image in and a ranked answer out, feedback.

GET  /                              web page: draw or upload, see, flag
POST /predict?model&version&top_k   one image: multipart, raw bytes or base64 JSON;
                                    or, for a table model, {"row": {column: value}}
POST /feedback                      "this is wrong": queue the input for labeling
"""

# No `from __future__ import annotations`: FastAPI reads endpoint annotations at runtime.
from typing import Annotated

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from dlstack.errors import DataError
from dlstack.package import softmax
from dlstack.serve import _docs as docs
from dlstack.serve._access import Feedback
from dlstack.serve._body import (
    check_identity_encoding,
    image_bytes,
    prepare_image_input,
    table_row,
)
from dlstack.serve._model_call import ModelCall
from dlstack.serve._state import server_state
from dlstack.web import BadRequest, token_from_headers

__all__ = ["add_predict_routes"]

MAX_TOP_K = 100


def add_predict_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(server_state(request).page)

    # The hot path checks the key itself (docs.PREDICT declares it): a FastAPI
    # dependency costs more per request than the rest of the checks together.
    @app.post("/predict", **docs.PREDICT)
    async def predict(
        request: Request,
        model: Annotated[str | None, Query(description="Model name (needed if several).")] = None,
        version: Annotated[str | None, Query(description="Version (default: current).")] = None,
        top_k: Annotated[int, Query(ge=1, le=MAX_TOP_K)] = 3,
    ) -> docs.PredictionOut:
        return await _predict(request, model, version, top_k)

    @app.post(
        "/feedback",
        tags=["convenience"],
        status_code=202,
        dependencies=[Feedback],
        responses=docs.FEEDBACK_ERRORS,
    )
    async def feedback(request: Request, body: docs.FeedbackIn) -> docs.FeedbackOut:
        state = server_state(request)
        found = state.log.recent(body.prediction_id)
        if body.label is not None:
            labels = state.registry.get(found.model, str(found.version)).spec.labels
            if body.label not in labels:
                raise BadRequest(
                    f"label {body.label!r} is not one of model {found.model}'s labels: "
                    f"{', '.join(labels)}"
                )
        result = await run_in_threadpool(
            state.log.feedback, body.prediction_id, label=body.label, note=body.note
        )
        return docs.FeedbackOut(example_id=result.example_id, queued=result.queued)


async def _predict(
    request: Request, model: str | None, version: str | None, top_k: int
) -> docs.PredictionOut:
    state = server_state(request)
    state.keys.require(token_from_headers(request.headers), "predict")
    registry = state.registry
    served = registry.get(model or registry.only(), version)
    with ModelCall(state.metrics, served) as call, served.batcher.arriving() as arrival:
        check_identity_encoding(request)
        spec = served.spec
        if spec.input.kind == "table":
            row = await table_row(request, state.config.max_request_bytes)
            try:
                x, notices, pixels = (
                    served.package.model_input(features=served.package.encoder.rows_to_raw([row])),
                    [],
                    None,
                )
            except DataError as e:
                raise BadRequest(str(e)) from None
        else:
            data = await image_bytes(request, state.config.max_request_bytes)
            async with state.decode_slots:  # bounds the memory of images decoded at once
                x, prepared = await run_in_threadpool(
                    prepare_image_input, data, spec, state.config.max_image_pixels
                )
            notices, pixels = list(prepared.notices), prepared.pixels[None]
        logits = await served.batcher.submit(x, arrival=arrival)
        probabilities = softmax(logits)  # (1, K)
        (prediction_id,) = state.log.record(
            model=served.name,
            version=served.version,
            endpoint="predict",
            request_id=request.headers.get("x-request-id"),
            pixels=pixels,
            probabilities=probabilities,
            labels=spec.labels,
            background=spec.input.background,
            latency_ms=1000 * call.elapsed,
            notices=[notices],
            table_rows=None if pixels is not None else [row],
            encoder=None if pixels is not None else served.package.encoder,
        )
    p = probabilities[0]
    order = np.argsort(-p, kind="stable")[: min(top_k, len(spec.labels))]
    ranked = [docs.Ranked(label=spec.labels[i], confidence=float(p[i])) for i in order]
    return docs.PredictionOut(
        prediction_id=prediction_id,
        model=served.name,
        version=served.version,
        label=ranked[0].label,
        confidence=ranked[0].confidence,
        top_k=ranked,
        notices=notices,
    )
