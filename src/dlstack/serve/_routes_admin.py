"""Operating the server: what is loaded, loading and unloading versions, metrics.

    GET  /metrics                                   Prometheus metrics
    GET  /models                                    loaded models, versions, labels
    POST /v2/repository/index                       admin: what is loaded
    POST /v2/repository/models/{name}/load          admin: load a version, make it current
    POST /v2/repository/models/{name}/unload        admin: unload a version (or all)

The repository routes are the Open Inference Protocol's model repository extension; they
always need an admin key.
"""

# No `from __future__ import annotations`: FastAPI reads endpoint annotations at runtime.
from fastapi import FastAPI, Request
from fastapi.responses import Response

from dlstack.package import is_version
from dlstack.serve import _docs as docs
from dlstack.serve._access import Admin, Predictor
from dlstack.serve._state import server_state
from dlstack.web import BadRequest

__all__ = ["add_admin_routes"]


def add_admin_routes(app: FastAPI) -> None:
    @app.get("/metrics", tags=["monitoring"], response_class=Response, responses=docs.METRICS)
    async def metrics(request: Request) -> Response:
        body, media = server_state(request).metrics.render()
        return Response(body, media_type=media)

    @app.get("/models", tags=["convenience"], dependencies=[Predictor])
    async def models(request: Request) -> list[docs.ModelSummary]:
        registry = server_state(request).registry
        return [
            docs.ModelSummary(
                name=name,
                versions=versions,
                current=registry.current(name),
                labels=registry.get(name).spec.labels,
                input_shape=registry.get(name).spec.inputs[0].shape,
                inputs={i.name: i.shape for i in registry.get(name).spec.inputs},
            )
            for name, versions in registry.available().items()
        ]

    @app.post("/v2/repository/index", tags=["admin"], dependencies=[Admin])
    async def repository_index(request: Request) -> list[docs.RepositoryEntry]:
        registry = server_state(request).registry
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
        registry = server_state(request).registry
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
        registry = server_state(request).registry
        gone = await registry.unload(name, _version_param(body))
        return [
            docs.RepositoryEntry(name=name, version=str(v), state="UNAVAILABLE", current=False)
            for v in gone
        ]


def _version_param(body: docs.RepositoryRequest | None) -> int | None:
    value = (body.parameters if body is not None else {}).get("version")
    if value is None:
        return None
    if isinstance(value, bool) or not is_version(str(value)):  # ASCII digits: not "²", "١"
        raise BadRequest(f"parameter 'version' must be a version number, got {value!r}")
    return int(value)
