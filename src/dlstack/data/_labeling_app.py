"""The labeling web app (FastAPI): one page, and a JSON API behind a bearer token.

    GET  /                         the labeling page (static; it holds no data)
    GET  /api/me                   who the token belongs to, the task, the key map
    GET  /api/next?limit&exclude   what to label next (queue order)
    GET  /api/image/{example_id}   an image from the object store
    POST /api/label                {"example_id", "label", "seconds"}; label null skips
    POST /api/skip                 {"example_id", "seconds"}
    POST /api/undo                 take back your latest answer
    GET  /api/review               reviewer+: examples the labelers disagree on
    POST /api/review               reviewer+: {"example_id", "label"} decides one
    GET  /api/admin/stats          admin: progress, agreement, human baseline
    GET|POST /api/admin/users      admin: list / create (the token is in the reply, once)
    POST /api/admin/users/{name}/disable
    GET|POST /api/admin/gold       admin: list / add ({"answers": {...}} or {"sample": n})
    DELETE /api/admin/gold/{example_id}

Errors are JSON ``{"error": ...}``, the prediction server's shape (dlstack.web): 401
without a valid token of *this* project's catalog, 403 for a role that may not, 404 for
an example that is not here, 422 for a label that is not allowed (with ``allowed``: the
classes).
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations
# (Depends aliases defined inside create_labeling_app) at runtime, and strings can't see locals.
import io
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from dlstack.data._catalog import examples, queue
from dlstack.data.labeling import _accounts as accounts
from dlstack.data.labeling import _baseline as baseline
from dlstack.data.labeling import _labels as labels
from dlstack.data.labeling._accounts import User
from dlstack.data.labeling._common import (
    BROWSER_TYPES,
    InvalidLabel,
    LabelingRules,
    NotFound,
    media_type,
)
from dlstack.data.labeling._queue import next_items
from dlstack.data.labeling._stats import labeling_stats
from dlstack.errors import DataError
from dlstack.web import (
    BadRequest,
    Forbidden,
    RequestGuard,
    Unauthorized,
    Unprocessable,
    error_body,
    install_error_handlers,
    token_from_headers,
)

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data._versions import DataRepo

__all__ = ["create_labeling_app", "key_map", "serve_labeling"]

# Labeling requests are a few answers at a time; nothing a person sends is near this.
MAX_REQUEST_BYTES = 1024 * 1024
DEFAULT_HOST = "127.0.0.1"  # tokens travel in plain HTTP: loopback unless a proxy adds TLS
DEFAULT_PORT = 8765
MAX_NEXT = 50  # items per /api/next; the page asks for a handful ahead
KEYS = "1234567890qwertyuiopasdfghjklzxcvbnm"  # keys for class lists that aren't single chars
_EXAMPLE_ID = r"^[0-9a-f]{64}$"
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class LabelIn(BaseModel):
    example_id: Annotated[str, Field(pattern=_EXAMPLE_ID)]
    label: str | None = None
    seconds: float | None = None


class SkipIn(BaseModel):
    example_id: Annotated[str, Field(pattern=_EXAMPLE_ID)]
    seconds: float | None = None


class DecideIn(BaseModel):
    example_id: Annotated[str, Field(pattern=_EXAMPLE_ID)]
    label: str


class UserIn(BaseModel):
    name: str
    role: Literal["labeler", "reviewer", "admin"] = "labeler"


class GoldIn(BaseModel):
    answers: dict[str, str] | None = None
    sample: Annotated[int, Field(ge=1)] | None = None


def key_map(classes: list[str]) -> dict[str, str]:
    """Key -> class. Single-character classes are their own key (digits: 0-9); other
    lists get 1..9, 0, then letters; a list longer than that gets buttons only."""
    if classes and all(len(c) == 1 and c.isprintable() and c != " " for c in classes):
        return {c: c for c in classes}
    return dict(zip(KEYS, classes, strict=False))


def create_labeling_app(project: "Project", *, repo: "DataRepo | None" = None) -> FastAPI:
    """The labeling app of one project: its catalog, its accounts, its images."""
    from dlstack.data._versions import DataRepo

    data = repo or DataRepo.open(project)
    catalog, store = data.catalog, data.store
    rules = LabelingRules.from_project(project)
    name = project.config.project.name
    page = (resources.files("dlstack.data.labeling") / "static" / "label.html").read_text(
        encoding="utf-8"
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if repo is None:
            data.close()

    app = FastAPI(title=f"dlstack label: {name}", lifespan=lifespan, docs_url=None, redoc_url=None)

    def current_user(request: Request) -> User:
        challenge = {"WWW-Authenticate": "Bearer"}
        token = token_from_headers(request.headers)
        if token is None:
            raise Unauthorized(
                "missing token: send 'Authorization: Bearer <token>'; "
                "an admin makes one with `dlstack label user add NAME`",
                headers=challenge,
            )
        user = accounts.authenticate(catalog, token)
        if user is None:
            raise Unauthorized(f"this token is not valid for project {name!r}", headers=challenge)
        if user.disabled:
            raise Unauthorized(f"account {user.name!r} is disabled", headers=challenge)
        return user

    def role(needed: str) -> Callable[[User], User]:
        def check(user: Annotated[User, Depends(current_user)]) -> User:
            if not user.can(needed):
                raise Forbidden(
                    f"{user.name!r} is a {user.role}; this needs the {needed} role or higher"
                )
            return user

        return check

    Labeler = Annotated[User, Depends(current_user)]
    Reviewer = Annotated[User, Depends(role("reviewer"))]
    Admin = Annotated[User, Depends(role("admin"))]

    install_error_handlers(app, statuses={NotFound: 404, DataError: 400})
    app.add_middleware(RequestGuard, max_bytes=MAX_REQUEST_BYTES)

    @app.exception_handler(InvalidLabel)
    def _invalid_label(_: Request, e: InvalidLabel) -> JSONResponse:
        # The classes too, so the page (or a script) can say what is allowed.
        return JSONResponse(error_body(str(e)) | {"allowed": list(e.allowed)}, status_code=422)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    @app.get("/api/health", include_in_schema=False)
    def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/me")
    def me(user: Labeler) -> dict[str, Any]:
        with catalog.connect() as conn:
            classes = list(catalog.get_meta(conn, "classes") or [])
        return {
            "user": user.name,
            "role": user.role,
            "project": name,
            "task": rules.task,
            "classes": classes,
            "keys": key_map(classes) if rules.task == "classification" else {},
        }

    @app.get("/api/next")
    def next_(
        user: Labeler, limit: Annotated[int, Query(ge=1, le=MAX_NEXT)] = 5, exclude: str = ""
    ) -> dict[str, Any]:
        held = [x for x in exclude.split(",") if x]
        items = next_items(catalog, user.name, limit=limit, seed=rules.seed, exclude=held)
        return {
            "items": [
                {
                    "example_id": i.example_id,
                    "image": f"/api/image/{i.example_id}",
                    "labels": i.labels,
                    "labels_needed": i.labels_needed,
                }
                for i in items
            ]
        }

    @app.get("/api/image/{example_id}")
    def image(example_id: str, _: Labeler) -> Response:
        if not re.match(_EXAMPLE_ID, example_id):
            raise NotFound("not an example id (64 hex characters)")
        with catalog.connect() as conn:
            if (
                conn.execute(select(examples.c.id).where(examples.c.id == example_id)).first()
                is None
            ):
                raise NotFound(f"example {example_id[:12]} is not in project {name!r}")
        blob = store.get(example_id)
        kind = media_type(blob)
        if kind not in BROWSER_TYPES:  # TIFF, PGM...: browsers can't show them
            blob, kind = _to_png(blob), "image/png"
        return Response(
            blob, media_type=kind, headers={"Cache-Control": "private, max-age=31536000, immutable"}
        )  # content-addressed

    @app.post("/api/label")
    def label(body: LabelIn, user: Labeler) -> dict[str, Any]:
        a = labels.record_label(
            catalog, body.example_id, user.name, body.label, seconds=body.seconds, rules=rules
        )
        return _annotation(a) | {"done": _done(body.example_id)}

    @app.post("/api/skip")
    def skip(body: SkipIn, user: Labeler) -> dict[str, Any]:
        a = labels.record_label(
            catalog, body.example_id, user.name, None, seconds=body.seconds, rules=rules
        )
        return _annotation(a)

    @app.post("/api/undo")
    def undo(user: Labeler) -> dict[str, Any]:
        a = labels.undo_last(catalog, user.name, rules=rules)
        return {"undone": _annotation(a) if a else None}

    @app.get("/api/review")
    def review(
        _: Reviewer,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        return {
            "items": [
                {
                    "example_id": d.example_id,
                    "image": f"/api/image/{d.example_id}",
                    "labels_needed": d.labels_needed,
                    "votes": d.votes,
                }
                for d in labels.disputed(catalog, limit=limit)
            ]
        }

    @app.post("/api/review")
    def decide(body: DecideIn, user: Reviewer) -> dict[str, Any]:
        labels.decide(catalog, body.example_id, body.label, user=user.name, rules=rules)
        return {"example_id": body.example_id, "label": body.label, "by": user.name}

    @app.get("/api/admin/stats")
    def stats(_: Admin) -> dict[str, Any]:
        return labeling_stats(catalog).to_dict() | {"project": name}

    @app.get("/api/admin/users")
    def users(_: Admin) -> dict[str, Any]:
        return {
            "users": [
                {
                    "name": u.name,
                    "role": u.role,
                    "disabled": u.disabled,
                    "created_at": u.created_at.isoformat(),
                }
                for u in accounts.list_users(catalog)
            ]
        }

    @app.post("/api/admin/users", status_code=201)
    def add_user(body: UserIn, _: Admin) -> dict[str, Any]:
        u, token = accounts.create_user(catalog, body.name, body.role)
        return {"name": u.name, "role": u.role, "token": token}

    @app.post("/api/admin/users/{user_name}/disable")
    def disable(user_name: str, admin: Admin) -> dict[str, Any]:
        if user_name == admin.name:
            raise BadRequest(
                "an admin cannot disable their own account here; use "
                "`dlstack label user disable` from the project's machine",
            )
        u = accounts.disable_user(catalog, user_name)
        return {"name": u.name, "disabled": u.disabled}

    @app.get("/api/admin/gold")
    def gold(_: Admin) -> dict[str, Any]:
        return {"gold": baseline.list_gold(catalog)}

    @app.post("/api/admin/gold")
    def add_gold(body: GoldIn, admin: Admin) -> dict[str, Any]:
        if (body.answers is None) == (body.sample is None):
            raise Unprocessable(
                "send either 'answers' ({example_id: label}) or "
                "'sample' (a number of labeled examples to make gold)",
            )
        if body.answers is not None:
            n = baseline.add_gold(catalog, body.answers, created_by=admin.name, rules=rules)
        else:
            n = len(
                baseline.sample_gold(
                    catalog, body.sample or 0, created_by=admin.name, seed=rules.seed, rules=rules
                )
            )
        return {"added": n}

    @app.delete("/api/admin/gold/{example_id}")
    def remove_gold(example_id: str, _: Admin) -> dict[str, Any]:
        if not baseline.remove_gold(catalog, [example_id]):
            raise NotFound(f"example {example_id[:12]} is not gold")
        return {"removed": example_id}

    def _done(example_id: str) -> bool:
        with catalog.connect() as conn:
            return (
                conn.execute(
                    select(queue.c.done_at).where(queue.c.example_id == example_id)
                ).scalar()
                is not None
            )

    return app


def serve_labeling(
    project: "Project", *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> None:
    """Run the labeling server until Ctrl-C."""
    import uvicorn

    uvicorn.run(create_labeling_app(project), host=host, port=port, log_level="warning")


def _annotation(a: labels.Annotation) -> dict[str, Any]:
    return {
        "id": a.id,
        "example_id": a.example_id,
        "user": a.user,
        "label": a.label,
        "created_at": a.created_at.isoformat(),
        "seconds": a.seconds,
    }


def _to_png(blob: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as im:
        buf = io.BytesIO()
        im.convert(
            "RGBA" if "A" in im.mode else "L" if im.mode in ("L", "I", "I;16", "1") else "RGB"
        ).save(buf, format="PNG")
    return buf.getvalue()
