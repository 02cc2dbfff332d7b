"""The prediction server (FastAPI + uvicorn): the Open Inference Protocol, a convenience
image endpoint, feedback, model admin, Prometheus metrics and a web page. No torch.

    GET  /                                          web page: draw or upload, see, flag
    GET  /docs, /redoc, /openapi.json               OpenAPI: Swagger UI and ReDoc, offline
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

Every error is ``{"error": "<message>"}`` (dlstack.web's one body) with a 4xx status (503
for a missed deadline, 429 with Retry-After for a full queue); never a 500 for bad input.
Inference goes through each model version's adaptive batcher (dlstack.serve._batching).

This module wires the app: its state, its lifespan, its routes (``_routes_oip``,
``_routes_predict``, ``_routes_admin``), its error handlers and its middleware.

>>> app = create_app([".dlstack/models/digits"])      # doctest: +SKIP
>>> serve([".dlstack/models/digits"], port=8080)       # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from dlstack.package import ModelPackage, load_package
from dlstack.serve import _docs as docs
from dlstack.serve._auth import KeyRing
from dlstack.serve._docs_policy import DocsPolicy
from dlstack.serve._errors import ERROR_STATUSES
from dlstack.serve._input_range import RangeWatch
from dlstack.serve._monitoring import Metrics, MetricsMiddleware
from dlstack.serve._predlog import PredictionLog
from dlstack.serve._registry import ModelRegistry
from dlstack.serve._routes_admin import add_admin_routes
from dlstack.serve._routes_oip import add_oip_routes
from dlstack.serve._routes_predict import add_predict_routes
from dlstack.serve._state import ServerState, server_version
from dlstack.web import RateLimit, RequestGuard, install_error_handlers

if TYPE_CHECKING:
    from dlstack.config import Project, ServeConfig

__all__ = ["create_app", "serve", "uvicorn_settings"]


def create_app(
    packages: Sequence[str | Path | ModelPackage],
    *,
    config: ServeConfig | None = None,
    project: Project | None = None,
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
    feedback_limit = RateLimit(cfg.feedback_per_minute)
    state = ServerState(
        cfg, keys, registry, log, metrics, page, slots, feedback_limit, RangeWatch(metrics)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry.start()
        log.start()
        try:
            yield
        finally:
            await registry.close()
            await asyncio.to_thread(log.close)

    # /docs and /redoc load Swagger UI and ReDoc from the installed fastapi-offline
    # package (under /static-offline-docs), not a CDN: they work on a machine offline.
    app = FastAPIOffline(
        title="dlstack prediction server",
        version=server_version(),
        summary="Open Inference Protocol (KServe v2) with adaptive batching, and a web page.",
        lifespan=lifespan,
        responses=docs.COMMON_ERRORS,
        # No validator badge: it would send the OpenAPI URL to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.server = state
    add_predict_routes(app)
    add_admin_routes(app)
    add_oip_routes(app)
    # A bad input tensor or image is the client's mistake (400), never a 500.
    install_error_handlers(app, statuses=ERROR_STATUSES)
    app.add_middleware(
        RequestGuard, max_bytes=cfg.max_request_bytes, body_timeout_s=cfg.body_timeout_s
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(DocsPolicy)  # /docs and /redoc fetch nothing from elsewhere
    return app


def serve(
    packages: Sequence[str | Path],
    *,
    config: ServeConfig | None = None,
    project: Project | None = None,
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
        **uvicorn_settings(cfg),
    )


def uvicorn_settings(cfg: ServeConfig) -> dict[str, Any]:
    """How the HTTP server runs, from ``[serve]`` (tests start uvicorn with the same)."""
    return {
        "access_log": False,  # one line per request costs more than the prediction; /metrics
        "timeout_graceful_shutdown": 10,
        # Beyond max_connections: 503 at once, not a held socket. uvicorn counts the arriving
        # connection itself, so its limit is one more than the connections it serves.
        "limit_concurrency": cfg.max_connections + 1,
    }


def _project_log(project: Project | None, cfg: ServeConfig, metrics: Metrics) -> PredictionLog:
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
