"""The convenience routes: the web page, one image in and a ranked answer out, feedback.

GET  /                              web page: draw or upload, see, flag
POST /predict?model&version&top_k   one image: multipart, raw bytes or base64 JSON;
                                    or, for a table model, {"row": {column: value}};
                                    or both, for a model of both inputs: {"image": base64,
                                    "row": {...}}, or multipart fields file and row
POST /feedback                      "this is wrong": queue the input for labeling
"""

# No `from __future__ import annotations`: FastAPI reads endpoint annotations at runtime.
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from dlstack.errors import DataError
from dlstack.serve import _docs as docs
from dlstack.serve._access import Feedback
from dlstack.serve._body import (
    check_identity_encoding,
    image_and_row,
    image_bytes,
    prepare_image_input,
    table_row,
)
from dlstack.serve._model_call import ModelCall
from dlstack.serve._state import server_state
from dlstack.targets import Answer, feedback_label
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
        label = body.label
        if label is not None:
            spec = state.registry.get(found.model, str(found.version)).spec
            if spec.task == "classification" and label not in spec.labels:
                raise BadRequest(
                    f"label {label!r} is not one of model {found.model}'s labels: "
                    f"{', '.join(spec.labels)}"
                )
            try:  # a set of classes or numbers, in the form the catalog stores
                label = feedback_label(spec.task, label, spec.labels)
            except DataError as e:
                raise BadRequest(f"model {found.model}: {e}") from None
        result = await run_in_threadpool(
            state.log.feedback, body.prediction_id, label=label, note=body.note
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
        image_input = spec.input_of_kind("image")
        table_input = spec.input_of_kind("table")
        limit = state.config.max_request_bytes
        row: dict[str, Any] | None = None
        inputs: dict[str, np.ndarray] = {}
        notices: list[str] = []
        pixels = None
        if image_input is not None and table_input is not None:
            data, row = await image_and_row(request, limit)
        elif table_input is not None:
            row = await table_row(request, limit)
        else:
            data = await image_bytes(request, limit)
        if row is not None and table_input is not None:
            try:
                inputs[table_input.name] = served.package.encoder.transform(
                    served.package.encoder.rows_to_raw([row])
                )
            except DataError as e:
                raise BadRequest(str(e)) from None
        if image_input is not None:
            async with state.decode_slots:  # bounds the memory of images decoded at once
                inputs[image_input.name], prepared = await run_in_threadpool(
                    prepare_image_input, data, spec, state.config.max_image_pixels
                )
            notices, pixels = list(prepared.notices), prepared.pixels[None]
        x = inputs if len(inputs) > 1 else next(iter(inputs.values()))
        # Answered as usual, with a warning when the input is far outside the training range.
        out_of_range = await state.range_watch.check_request(spec, x)
        logits = await served.batcher.submit(x, arrival=arrival)
        state.range_watch.observe(out_of_range)
        warnings = [w.text for w in out_of_range]
        probabilities = served.package.scores(logits)  # (1, K): softmax, sigmoid or numbers
        answers = None if spec.task == "classification" else served.package.answers(probabilities)
        (prediction_id,) = state.log.record(
            model=served.name,
            version=served.version,
            endpoint="predict",
            request_id=request.headers.get("x-request-id"),
            pixels=pixels,
            probabilities=probabilities,
            labels=spec.labels,
            background=image_input.background if image_input is not None else "dark",
            latency_ms=1000 * call.elapsed,
            notices=[notices],
            table_rows=None if row is None else [row],
            encoder=None if row is None else served.package.encoder,
            answers=answers,
        )
    if answers is not None:
        return _task_answer(
            answers[0], prediction_id, served.name, served.version, top_k, notices, warnings
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
        warnings=warnings,
    )


def _task_answer(
    answer: Answer,
    prediction_id: str,
    model: str,
    version: int,
    top_k: int,
    notices: list[str],
    warnings: list[str],
) -> docs.PredictionOut:
    """A multilabel's, a regression's or a line's /predict response (classification: as
    before)."""
    if answer.task == "ctc":
        return docs.PredictionOut(
            prediction_id=prediction_id,
            model=model,
            version=version,
            label=answer.label,
            confidence=answer.confidence,
            top_k=[],
            notices=notices,
            warnings=warnings,
            task="ctc",
            text=answer.label,
            characters=[docs.CharacterOut(char=c, confidence=v) for c, v in answer.characters],
        )
    ranked = sorted(answer.scores.items(), key=lambda kv: -kv[1])[:top_k]
    multilabel = answer.task == "multilabel"
    return docs.PredictionOut(
        prediction_id=prediction_id,
        model=model,
        version=version,
        label=answer.label,
        confidence=answer.confidence if multilabel else None,
        top_k=[docs.Ranked(label=k, confidence=v) for k, v in ranked] if multilabel else [],
        notices=notices,
        warnings=warnings,
        task="multilabel" if multilabel else "regression",
        labels=list(answer.labels) if multilabel else None,
        probabilities=dict(answer.scores) if multilabel else None,
        values=answer.values or None,
    )
