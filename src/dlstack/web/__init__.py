"""Web: what dlstack's two web apps (the prediction server and the labeling app) share.

Tokens and roles (:mod:`dlstack.web._auth`: random tokens, their sha256, the header that
carries them, a constant-time lookup, ordered roles) and one error vocabulary with one
body, ``{"error": message}`` (the HTTP errors, and ``install_error_handlers`` for a
FastAPI app). No torch, no config and no stage: serving and labeling build on this.
FastAPI is imported only when the handlers are first used.

>>> from dlstack.web import NotFound, error_body
>>> error_body(str(NotFound("no model 'x'")))
{'error': "no model 'x'"}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack._lazy import lazy_attribute
from dlstack.web._auth import (
    TOKEN_BYTES,
    Roles,
    hash_token,
    match_token,
    new_token,
    token_from_headers,
)
from dlstack.web._errors import (
    BadRequest,
    Forbidden,
    HttpError,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    Unprocessable,
    UnsupportedMedia,
    error_body,
    status_for,
)
from dlstack.web._guard import DEFAULT_BODY_TIMEOUT_S, RequestGuard
from dlstack.web._json import (
    MAX_JSON_DEPTH,
    MAX_NUMBER_DIGITS,
    check_json,
    json_shape,
    parse_json,
)
from dlstack.web._rate import RateLimit

if TYPE_CHECKING:
    from dlstack.web._handlers import error_response, install_error_handlers

# Imported on first use: they need FastAPI, which the token and error code does not.
_LAZY = {
    "error_response": "_handlers",
    "install_error_handlers": "_handlers",
}

__all__ = [
    "DEFAULT_BODY_TIMEOUT_S",
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_DIGITS",
    "TOKEN_BYTES",
    "BadRequest",
    "Forbidden",
    "HttpError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimit",
    "RequestGuard",
    "Roles",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "UnsupportedMedia",
    "check_json",
    "error_body",
    "error_response",
    "hash_token",
    "install_error_handlers",
    "json_shape",
    "match_token",
    "new_token",
    "parse_json",
    "status_for",
    "token_from_headers",
]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, name)
