"""The prediction server (FastAPI + uvicorn): the Open Inference Protocol, a convenience
image endpoint, feedback, model admin, Prometheus metrics and a web page. No torch.

    GET  /                                          web page: draw or upload, see, flag
    GET  /docs, /openapi.json                       OpenAPI
    GET  /metrics                                   Prometheus metrics
    GET  /models                                    loaded models, versions, labels
    POST /predict?model&version&top_k               one image: multipart, raw bytes or base64
    POST /feedback                                  "this is wrong": queue it for labeling
    GET  /v2                                        OIP server metadata
    GET  /v2/health/live, /v2/health/ready
    GET  /v2/models/{name}[/versions/{v}]           model metadata (from model.json)
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer     inference (JSON or binary tensors)
    POST /v2/repository/index                       admin: what is loaded
    POST /v2/repository/models/{name}/load          admin: load a version, make it current
    POST /v2/repository/models/{name}/unload        admin: unload a version (or all)

Every error is ``{"error": "<message>"}`` with a 4xx status (503 for a missed deadline,
429 with Retry-After for a full queue); never a 500 for bad input. Inference goes through
each model version's adaptive batcher (dlstack.serve._batching).

>>> app = create_app([".dlstack/models/digits"])      # doctest: +SKIP
>>> serve([".dlstack/models/digits"], port=8080)       # doctest: +SKIP
"""

# No `from __future__ import annotations`: FastAPI reads endpoint annotations at runtime.
import asyncio
import base64
import binascii
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from dlstack.errors import DataError, PackageError
from dlstack.inputs import decode_image, prepare_image, to_pixels
from dlstack.package import ModelPackage, load_package, softmax
from dlstack.serve import _docs as docs
from dlstack.serve._auth import KeyRing, Role, key_from_headers
from dlstack.serve._errors import (
    BadRequest,
    PayloadTooLarge,
    ServeError,
    UnsupportedMedia,
)
from dlstack.serve._monitoring import Metrics, MetricsMiddleware
from dlstack.serve._predlog import PredictionLog
from dlstack.serve._protocol import (
    BINARY_HEADER,
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    encode_infer_response,
    model_input,
    model_metadata,
    parse_infer_request,
    requested_outputs,
)
from dlstack.serve._registry import ModelRegistry, ServedModel

if TYPE_CHECKING:
    from dlstack.config import Project, ServeConfig

__all__ = ["create_app", "serve"]

SERVER_NAME = "dlstack"
MAX_TOP_K = 100
_PARSE_INLINE_BYTES = 256 * 1024  # larger inference bodies are parsed in a worker thread
_log = logging.getLogger(__name__)


@dataclass
class ServerState:
    config: "ServeConfig"
    keys: KeyRing
    registry: ModelRegistry
    log: PredictionLog
    metrics: Metrics
    page: str
    decode_slots: asyncio.Semaphore


def create_app(
    packages: Sequence[str | Path | ModelPackage],
    *,
    config: "ServeConfig | None" = None,
    project: "Project | None" = None,
    log: PredictionLog | None = None,
) -> FastAPI:
    """A FastAPI app serving ``packages`` (paths or loaded packages; the first version of
    each name given is current, later ones are loaded beside it).

    ``config`` defaults to the project's ``[serve]`` (or the defaults); with a project the
    prediction log writes to its lake and store, feedback goes to its labeling queue.
    """
    from dlstack.config import ServeConfig

    cfg = config or (project.config.serve if project is not None else ServeConfig())
    keys = KeyRing.from_config(cfg)
    metrics = Metrics()
    registry = ModelRegistry(cfg, metrics)
    for p in packages:
        pkg = (
            # No spinning: idle model threads would take the CPU from request parsing
            # (bench/serve_load.py measured ~1.5x more throughput with batching on 2 CPUs).
            load_package(p, intra_op_threads=cfg.intra_op_threads, spin=False)
            if isinstance(p, str | Path)
            else p
        )
        registry.add(pkg, current=pkg.spec.name not in registry.available())
    if project is not None:
        registry.add_search_path(project.models_dir)
    if log is None:
        log = _project_log(project, cfg, metrics)
    page = resources.files("dlstack.serve").joinpath("static/index.html").read_text("utf-8")
    # Images decoded at once: each may take max_image_pixels x 3 bytes while it is decoded.
    slots = asyncio.Semaphore(max(2, os.cpu_count() or 2))
    state = ServerState(cfg, keys, registry, log, metrics, page, slots)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry.start()
        log.start()
        try:
            yield
        finally:
            await registry.close()
            await asyncio.to_thread(log.close)

    app = FastAPI(
        title="dlstack prediction server",
        version=_version(),
        summary="Open Inference Protocol (KServe v2) with adaptive batching, and a web page.",
        lifespan=lifespan,
        responses=docs.COMMON_ERRORS,
    )
    app.state.server = state
    _routes(app)
    _error_handlers(app)
    app.add_middleware(BodyLimit, limit=cfg.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def serve(
    packages: Sequence[str | Path],
    *,
    config: "ServeConfig | None" = None,
    project: "Project | None" = None,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
) -> None:
    """Run the server with uvicorn until interrupted."""
    import uvicorn

    from dlstack.config import ServeConfig

    cfg = config or (project.config.serve if project is not None else ServeConfig())
    app = create_app(packages, config=cfg, project=project)
    uvicorn.run(
        app,
        host=host or cfg.host,
        port=port or cfg.port,
        log_level=log_level,
        access_log=False,  # one line per request costs more than the prediction; see /metrics
        timeout_graceful_shutdown=10,
    )


def _project_log(project: "Project | None", cfg: "ServeConfig", metrics: Metrics) -> PredictionLog:
    if project is None or not cfg.log_predictions:
        return PredictionLog(metrics=metrics)
    from dlstack.data import Catalog, Lake, ObjectStore

    def catalog() -> Catalog:
        return Catalog(project.catalog_url, namespace=project.config.project.name)

    return PredictionLog(
        lake=Lake(project.lake_url, **project.lake_options),
        store=ObjectStore(project.store_url, **project.store_options),
        catalog=catalog,
        sample_rate=cfg.log_sample_rate,
        flush_seconds=cfg.log_flush_seconds,
        metrics=metrics,
    )


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dlstack")
    except Exception:
        return "0"


# -- requests -------------------------------------------------------------------------------


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")
_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token.")
ApiKey = Annotated[str | None, Security(_api_key)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


def _key(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    return api_key or None


def _authorize(request: Request, role: Role, api_key: str | None, bearer: Any) -> None:
    _state(request).keys.require(_key(api_key, bearer), role)


# async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.
async def require_predict(request: Request, api_key: ApiKey = None, bearer: Bearer = None) -> None:
    _authorize(request, "predict", api_key, bearer)


async def require_admin(request: Request, api_key: ApiKey = None, bearer: Bearer = None) -> None:
    _authorize(request, "admin", api_key, bearer)


Predictor = Depends(require_predict)
Admin = Depends(require_admin)


class _ModelCall:
    """Counts and times one inference request for its model's metrics."""

    def __init__(self, state: ServerState, served: ServedModel) -> None:
        self.metrics = state.metrics
        self.labels = (served.name, str(served.version))
        self.start = time.perf_counter()

    def __enter__(self) -> "_ModelCall":
        return self

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        if error is None:
            status = 200
        elif isinstance(error, ServeError):
            status = error.status
        else:
            status = 400 if isinstance(error, DataError) else 500
        if isinstance(error, PayloadTooLarge):
            self.metrics.rejections.labels(*self.labels, "too_large").inc()
        self.metrics.model_requests.labels(*self.labels, str(status)).inc()
        if error is None:
            self.metrics.model_latency.labels(*self.labels).observe(self.elapsed)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def _routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(_state(request).page)

    @app.get("/metrics", tags=["monitoring"], response_class=Response, responses=docs.METRICS)
    async def metrics(request: Request) -> Response:
        body, media = _state(request).metrics.render()
        return Response(body, media_type=media)

    @app.get("/models", tags=["convenience"], dependencies=[Predictor])
    async def models(request: Request) -> list[docs.ModelSummary]:
        registry = _state(request).registry
        return [
            docs.ModelSummary(
                name=name,
                versions=versions,
                current=registry.current(name),
                labels=registry.get(name).spec.labels,
                input_shape=registry.get(name).spec.input.shape,
            )
            for name, versions in registry.available().items()
        ]

    # -- OIP: health and metadata ------------------------------------------------------------

    @app.get("/v2", tags=["oip"])
    async def server_metadata() -> docs.ServerMetadata:
        return docs.ServerMetadata(
            name=SERVER_NAME,
            version=_version(),
            extensions=["binary_tensor_data", "model_repository"],
        )

    @app.get("/v2/health/live", tags=["oip"])
    async def live() -> docs.Live:
        return docs.Live(live=True)

    @app.get("/v2/health/ready", tags=["oip"], responses=docs.NOT_READY)
    async def ready(request: Request) -> Any:
        if not _state(request).registry.available():
            return _error(503, "no model is loaded")
        return docs.Ready(ready=True)

    @app.get("/v2/models/{name}", tags=["oip"], dependencies=[Predictor])
    async def metadata(request: Request, name: str) -> docs.ModelMetadata:
        return _metadata(request, name, None)

    @app.get("/v2/models/{name}/versions/{version}", tags=["oip"], dependencies=[Predictor])
    async def version_metadata(request: Request, name: str, version: str) -> docs.ModelMetadata:
        return _metadata(request, name, version)

    @app.get("/v2/models/{name}/ready", tags=["oip"], dependencies=[Predictor])
    async def model_ready(request: Request, name: str) -> docs.ModelReady:
        served = _state(request).registry.get(name)
        return docs.ModelReady(name=served.name, ready=True)

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["oip"], dependencies=[Predictor])
    async def version_ready(request: Request, name: str, version: str) -> docs.ModelReady:
        served = _state(request).registry.get(name, version)
        return docs.ModelReady(name=served.name, ready=True)

    # -- OIP: inference ----------------------------------------------------------------------

    # The hot paths check the key themselves (docs.INFER/PREDICT declare it): a FastAPI
    # dependency costs more per request than the rest of the checks together.
    @app.post("/v2/models/{name}/infer", **docs.INFER)
    async def infer(request: Request, name: str) -> Response:
        return await _infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer", **docs.INFER)
    async def infer_version(request: Request, name: str, version: str) -> Response:
        return await _infer(request, name, version)

    # -- convenience -------------------------------------------------------------------------

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
        dependencies=[Predictor],
        responses=docs.FEEDBACK_ERRORS,
    )
    async def feedback(request: Request, body: docs.FeedbackIn) -> docs.FeedbackOut:
        state = _state(request)
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

    # -- admin: the model repository extension -------------------------------------------------

    @app.post("/v2/repository/index", tags=["admin"], dependencies=[Admin])
    async def repository_index(request: Request) -> list[docs.RepositoryEntry]:
        registry = _state(request).registry
        return [
            docs.RepositoryEntry(
                name=name,
                version=str(v),
                state="READY",
                current=v == registry.current(name),
            )
            for name, versions in registry.available().items()
            for v in versions
        ]

    @app.post(
        "/v2/repository/models/{name}/load",
        tags=["admin"],
        dependencies=[Admin],
        responses=docs.ADMIN_ERRORS,
    )
    async def load(
        request: Request, name: str, body: docs.RepositoryRequest | None = None
    ) -> docs.RepositoryEntry:
        registry = _state(request).registry
        served = await registry.load(name, _version_param(body))
        return docs.RepositoryEntry(
            name=served.name, version=str(served.version), state="READY", current=True
        )

    @app.post(
        "/v2/repository/models/{name}/unload",
        tags=["admin"],
        dependencies=[Admin],
        responses=docs.ADMIN_ERRORS,
    )
    async def unload(
        request: Request, name: str, body: docs.RepositoryRequest | None = None
    ) -> list[docs.RepositoryEntry]:
        registry = _state(request).registry
        gone = await registry.unload(name, _version_param(body))
        return [
            docs.RepositoryEntry(name=name, version=str(v), state="UNAVAILABLE", current=False)
            for v in gone
        ]


def _version_param(body: "docs.RepositoryRequest | None") -> int | None:
    value = (body.parameters if body is not None else {}).get("version")
    if value is None:
        return None
    if isinstance(value, bool) or not str(value).isdigit():
        raise BadRequest(f"parameter 'version' must be a version number, got {value!r}")
    return int(value)


def _metadata(request: Request, name: str, version: str | None) -> docs.ModelMetadata:
    registry = _state(request).registry
    served = registry.get(name, version)
    meta = model_metadata(served.spec, registry.available()[name])
    return docs.ModelMetadata(**meta)


async def _infer(request: Request, name: str, version: str | None) -> Response:
    state = _state(request)
    state.keys.require(key_from_headers(request.headers), "predict")
    served = state.registry.get(name, version)
    with _ModelCall(state, served) as call, served.batcher.arriving() as arrival:
        _identity_encoding(request)
        body = await request.body()
        if len(body) > _PARSE_INLINE_BYTES:  # a big JSON body would stall the event loop
            req, x = await run_in_threadpool(_parse, body, request, served, state)
        else:
            req, x = _parse(body, request, served, state)  # x: (N, C, H, W)
        outputs = requested_outputs(req, served.spec)
        logits = await served.batcher.submit(x, timeout_s=req.timeout_s, arrival=arrival)
        spec = served.spec
        wanted = {o.name for o in outputs}
        probabilities = (
            softmax(logits) if PROBABILITIES_OUTPUT in wanted or state.log.enabled else None
        )
        labels = np.array([spec.labels[i] for i in logits.argmax(axis=1)], dtype=object)
        if probabilities is not None and state.log.enabled:
            # OIP answers carry no prediction id, so there is nothing to flag later: only
            # the log needs these rows.
            state.log.record(
                model=served.name,
                version=served.version,
                endpoint="infer",
                request_id=req.id,
                pixels=to_pixels(x, spec.input.normalization.mean, spec.input.normalization.std),
                probabilities=probabilities,
                labels=spec.labels,
                background=spec.input.background,
                latency_ms=1000 * call.elapsed,
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
        )
    return Response(content, headers=headers)


async def _predict(
    request: Request, model: str | None, version: str | None, top_k: int
) -> docs.PredictionOut:
    state = _state(request)
    state.keys.require(key_from_headers(request.headers), "predict")
    registry = state.registry
    served = registry.get(model or registry.only(), version)
    with _ModelCall(state, served) as call, served.batcher.arriving() as arrival:
        _identity_encoding(request)
        data = await _image_bytes(request, state.config.max_request_bytes)
        spec = served.spec
        async with state.decode_slots:  # bounds the memory of images decoded at once
            x, prepared = await run_in_threadpool(
                _prepare, data, spec, state.config.max_image_pixels
            )
        logits = await served.batcher.submit(x, arrival=arrival)
        probabilities = softmax(logits)  # (1, K)
        (prediction_id,) = state.log.record(
            model=served.name,
            version=served.version,
            endpoint="predict",
            request_id=request.headers.get("x-request-id"),
            pixels=prepared.pixels[None],
            probabilities=probabilities,
            labels=spec.labels,
            background=spec.input.background,
            latency_ms=1000 * call.elapsed,
            notices=[prepared.notices],
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
        notices=list(prepared.notices),
    )


def _parse(body: bytes, request: Request, served: ServedModel, state: ServerState) -> Any:
    req = parse_infer_request(body, request.headers.get(BINARY_HEADER))
    return req, model_input(req, served.spec, max_rows=state.config.max_request_batch)


def _prepare(data: bytes, spec: Any, max_pixels: int) -> tuple[np.ndarray, Any]:
    """Image bytes -> model input (1, C, H, W) and the prepared image, as in training."""
    from dlstack.inputs import to_model_input

    image, label = decode_image(data, name="the uploaded image", max_pixels=max_pixels)
    prepared = prepare_image(
        image,
        size=spec.input.size,
        color=spec.input.color,
        background=spec.input.background,
        name=label,
    )
    norm = spec.input.normalization
    return to_model_input(prepared.pixels[None], norm.mean, norm.std), prepared


async def _image_bytes(request: Request, limit: int) -> bytes:
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
        try:
            doc = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadRequest(f"the JSON body is not valid JSON ({e})") from None
        image = doc.get("image") if isinstance(doc, dict) else None
        if not isinstance(image, str):
            raise BadRequest('the JSON body must be {"image": "<base64 of the image file>"}')
        if image.startswith("data:") and "," in image:
            image = image.split(",", 1)[1]  # a data URL, as a canvas's toDataURL() makes
        try:
            data = base64.b64decode(image, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("'image' is not valid base64") from None
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


def _identity_encoding(request: Request) -> None:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", ""):
        raise UnsupportedMedia(
            f"Content-Encoding {encoding!r} is not accepted; send the body uncompressed"
        )


# -- errors -----------------------------------------------------------------------------------


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServeError)
    async def serve_error(request: Request, e: ServeError) -> JSONResponse:
        return _error(e.status, str(e), e.headers)

    @app.exception_handler(DataError)
    async def data_error(request: Request, e: DataError) -> JSONResponse:
        return _error(400, str(e))

    @app.exception_handler(PackageError)
    async def package_error(request: Request, e: PackageError) -> JSONResponse:
        return _error(400, str(e))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        return _error(422, problems or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        return _error(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception) -> JSONResponse:
        _log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(e).__name__}); this is a bug in dlstack")


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes (413) before or while reading."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit():
                    await _send_error(send, 400, "Content-Length must be a number of bytes")
                    return
                if int(value) > self.limit:
                    await _send_error(send, 413, self._message(int(value)))
                    return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise PayloadTooLarge(self._message(seen))
            return message

        await self.app(scope, limited, send)

    def _message(self, size: int) -> str:
        return (
            f"the request body has {size:,}+ bytes; at most {self.limit:,} are accepted "
            f"(serve.max_request_bytes)"
        )


async def _send_error(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
