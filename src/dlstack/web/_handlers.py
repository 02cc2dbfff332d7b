"""One error-body shape for a FastAPI app: every refusal answers ``{"error": message}``.

Without these handlers FastAPI answers ``{"detail": ...}`` (a string, or a list of
validation problems) and Starlette a plain-text 500; with them every HttpError, every
HTTPException (404 for an unknown path, 405 for a wrong method), every request
validation error and every unexpected exception answers with the error body of
``dlstack.web._errors``, its status and its headers (Retry-After, WWW-Authenticate).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dlstack.web._errors import HttpError, error_body

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["error_response", "install_error_handlers"]

_log = logging.getLogger(__name__)


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """``{"error": message}`` with ``status`` (and ``headers``)."""
    return JSONResponse(error_body(message), status_code=status, headers=headers)


def install_error_handlers(
    app: FastAPI, *, statuses: Mapping[type[Exception], int] | None = None
) -> None:
    """Make every error of ``app`` answer with the one error body.

    ``statuses`` maps the app's own exception types (a DataError: 400) to their status;
    the most specific registered type of an exception wins, as Starlette looks them up.
    """

    @app.exception_handler(HttpError)
    async def http_error(request: Request, e: HttpError) -> JSONResponse:
        return error_response(e.status, str(e), e.headers)

    for kind, status in (statuses or {}).items():
        app.add_exception_handler(kind, _answer_with(status))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        return error_response(422, problems or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def http_exception(request: Request, e: StarletteHTTPException) -> JSONResponse:
        return error_response(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception) -> JSONResponse:
        _log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(e).__name__}); this is a bug in dlstack")


def _answer_with(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(request: Request, e: Exception) -> JSONResponse:
        return error_response(status, str(e))

    return handler
