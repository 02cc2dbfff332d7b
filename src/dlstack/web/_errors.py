"""What dlstack's web apps answer when they refuse a request, and the one body they use.

    DlstackError
    └── HttpError             carries the HTTP status and headers; body {"error": message}
        ├── BadRequest        400  wrong input name, shape, datatype; not an image; empty body
        ├── Unauthorized      401  no token or API key, or an unknown one
        ├── Forbidden         403  a token whose role may not do this
        ├── NotFound          404  no such model, version, prediction or example
        ├── PayloadTooLarge   413  a body or a batch over the configured limit
        ├── UnsupportedMedia  415  a content type or encoding the endpoint does not read
        ├── Unprocessable     422  well-formed, but not something this endpoint accepts
        ├── TooManyRequests   429  backpressure; Retry-After says when to come back
        └── Unavailable       503  the deadline cannot be met, or the model is unloading

The body follows the Open Inference Protocol, ``{"error": "<message>"}``, in both the
prediction server and the labeling app (``install_error_handlers`` makes FastAPI's own
errors answer with it too); every message names the problem, what was received and what
is allowed.

>>> e = TooManyRequests("the queue is full", retry_after=2)
>>> e.status, e.headers, error_body(str(e))
(429, {'Retry-After': '2'}, {'error': 'the queue is full'})
"""

from __future__ import annotations

from collections.abc import Mapping

from dlstack.errors import DlstackError

__all__ = [
    "BadRequest",
    "Forbidden",
    "HttpError",
    "NotFound",
    "PayloadTooLarge",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "UnsupportedMedia",
    "error_body",
    "status_for",
]


def error_body(message: str) -> dict[str, str]:
    """The body of every error response: the Open Inference Protocol's error object."""
    return {"error": message}


class HttpError(DlstackError):
    """A request the app refuses; ``status`` is its HTTP status code."""

    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class BadRequest(HttpError):
    status = 400


class Unauthorized(HttpError):
    status = 401


class Forbidden(HttpError):
    status = 403


class NotFound(HttpError):
    status = 404


class PayloadTooLarge(HttpError):
    status = 413


class UnsupportedMedia(HttpError):
    status = 415


class Unprocessable(HttpError):
    status = 422


class TooManyRequests(HttpError):
    """Come back later; ``retry_after`` (seconds, a guess) is sent as Retry-After."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class Unavailable(HttpError):
    status = 503


def status_for(error: BaseException, statuses: Mapping[type[Exception], int]) -> int:
    """The HTTP status an app answers ``error`` with: an HttpError's own, else that of the
    most specific type in ``statuses`` (as the app's exception handlers pick), else 500."""
    if isinstance(error, HttpError):
        return error.status
    for kind in type(error).__mro__:
        if kind in statuses:
            return statuses[kind]
    return 500
