"""The Open Inference Protocol (KServe v2) routes: health, metadata and inference.

    GET  /v2                                        server metadata
    GET  /v2/health/live, /v2/health/ready
    GET  /v2/models/{name}[/versions/{v}]           model metadata (from model.json)
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer     inference (JSON or binary tensors)

Inference goes through the model version's adaptive batcher (``_batching``).
"""

# No `from __future__ import annotations`: FastAPI reads endpoint annotations at runtime.
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response

from dlstack.inputs import to_pixels
from dlstack.serve import _docs as docs
from dlstack.serve._access import Predictor
from dlstack.serve._body import check_identity_encoding, read_infer_request
from dlstack.serve._input_range import OUT_OF_RANGE_PARAMETER
from dlstack.serve._model_call import ModelCall
from dlstack.serve._protocol import (
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    encode_infer_response,
    model_metadata,
    requested_outputs,
)
from dlstack.serve._state import server_state, server_version
from dlstack.web import error_response, token_from_headers

__all__ = ["add_oip_routes"]

SERVER_NAME = "dlstack"


def add_oip_routes(app: FastAPI) -> None:
    @app.get("/v2", tags=["oip"])
    async def server_metadata() -> docs.ServerMetadata:
        return docs.ServerMetadata(
            name=SERVER_NAME,
            version=server_version(),
            extensions=["binary_tensor_data", "model_repository"],
        )

    @app.get("/v2/health/live", tags=["oip"])
    async def live() -> docs.Live:
        return docs.Live(live=True)

    @app.get("/v2/health/ready", tags=["oip"], responses=docs.NOT_READY)
    async def ready(request: Request) -> Any:
        if not server_state(request).registry.available():
            return error_response(503, "no model is loaded")
        return docs.Ready(ready=True)

    @app.get("/v2/models/{name}", tags=["oip"], dependencies=[Predictor])
    async def metadata(request: Request, name: str) -> docs.ModelMetadata:
        return _metadata(request, name, None)

    @app.get("/v2/models/{name}/versions/{version}", tags=["oip"], dependencies=[Predictor])
    async def version_metadata(request: Request, name: str, version: str) -> docs.ModelMetadata:
        return _metadata(request, name, version)

    @app.get("/v2/models/{name}/ready", tags=["oip"], dependencies=[Predictor])
    async def model_ready(request: Request, name: str) -> docs.ModelReady:
        served = server_state(request).registry.get(name)
        return docs.ModelReady(name=served.name, ready=True)

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["oip"], dependencies=[Predictor])
    async def version_ready(request: Request, name: str, version: str) -> docs.ModelReady:
        served = server_state(request).registry.get(name, version)
        return docs.ModelReady(name=served.name, ready=True)

    # The hot paths check the key themselves (docs.INFER declares it): a FastAPI
    # dependency costs more per request than the rest of the checks together.
    @app.post("/v2/models/{name}/infer", **docs.INFER)
    async def infer(request: Request, name: str) -> Response:
        return await _infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer", **docs.INFER)
    async def infer_version(request: Request, name: str, version: str) -> Response:
        return await _infer(request, name, version)


def _metadata(request: Request, name: str, version: str | None) -> docs.ModelMetadata:
    registry = server_state(request).registry
    served = registry.get(name, version)
    meta = model_metadata(served.spec, registry.available()[name])
    return docs.ModelMetadata(**meta)


async def _infer(request: Request, name: str, version: str | None) -> Response:
    state = server_state(request)
    state.keys.require(token_from_headers(request.headers), "predict")
    served = state.registry.get(name, version)
    with ModelCall(state.metrics, served) as call, served.batcher.arriving() as arrival:
        check_identity_encoding(request)
        req, x = await read_infer_request(request, served, state.config.max_request_batch)
        outputs = requested_outputs(req, served.spec)
        # Answered as usual, with a warning when the input is far outside the training range.
        warnings = await state.range_watch.check_request(served.spec, x)
        logits = await served.batcher.submit(x, timeout_s=req.timeout_s, arrival=arrival)
        state.range_watch.observe(warnings)
        spec = served.spec
        wanted = {o.name for o in outputs}
        one_class = spec.task == "classification"
        probabilities = (
            served.package.scores(logits)  # softmax; sigmoid per class; a regression's numbers
            if PROBABILITIES_OUTPUT in wanted or state.log.enabled or not one_class
            else None
        )
        # "label": the class; a multilabel's classes given, or the numbers, as JSON lists.
        answers = (
            None if one_class or probabilities is None else served.package.answers(probabilities)
        )
        labels = np.array(
            [a.label for a in answers]
            if answers is not None
            else [spec.labels[i] for i in logits.argmax(axis=1)],
            dtype=object,
        )
        if probabilities is not None and state.log.enabled:
            # OIP answers carry no prediction id, so there is nothing to flag later: only
            # the log needs these rows.
            # The image as the model saw it; a table's encoded rows are not its columns'
            # values, so infer requests log no per-feature rows.
            image = spec.input_of_kind("image")
            pixels = None
            if image is not None:
                tensor = x[image.name] if isinstance(x, dict) else x
                pixels = to_pixels(tensor, image.norm.mean, image.norm.std)
            state.log.record(
                model=served.name,
                version=served.version,
                endpoint="infer",
                request_id=req.id,
                pixels=pixels,
                probabilities=probabilities,
                labels=spec.labels,
                background="dark" if image is None else image.background,
                latency_ms=1000 * call.elapsed,
                answers=answers,
            )
        arrays: dict[str, tuple[str, np.ndarray]] = {
            spec.output.name: ("FP32", logits),
            LABEL_OUTPUT: ("BYTES", labels),
        }
        if probabilities is not None:
            arrays[PROBABILITIES_OUTPUT] = ("FP32", probabilities)
        content, headers = encode_infer_response(
            model_name=served.name,
            model_version=served.version,
            request_id=req.id,
            outputs=[(o, *arrays[o.name]) for o in outputs],
            parameters={OUT_OF_RANGE_PARAMETER: " | ".join(w.text for w in warnings)}
            if warnings
            else None,
        )
    return Response(content, headers=headers)
