"""What every request body of dlstack's web apps goes through before a route sees it.

:class:`RequestGuard` (ASGI middleware) reads the body first, so that

- a body over ``max_bytes`` is refused (413) as soon as it is known to be (the
  Content-Length, or the bytes so far), before it is held in memory;
- a client that sends it too slowly (a byte every few seconds, many connections: the
  "slowloris" pattern) is answered 408 after ``body_timeout_s`` and its connection closed;
- a JSON body (``application/json``, or the JSON part of an OIP binary request) nests no
  deeper than ``MAX_JSON_DEPTH`` and holds no number literal longer than
  ``MAX_NUMBER_DIGITS`` digits, whichever route parses it (FastAPI's own body models
  included), so no parser can recurse away or raise a ValueError into a 500.

The app then receives the body it would have received, in one piece.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from dlstack.web._errors import BadRequest, error_body
from dlstack.web._json import check_json

__all__ = ["DEFAULT_BODY_TIMEOUT_S", "RequestGuard"]

DEFAULT_BODY_TIMEOUT_S = 10.0
BINARY_HEADER = b"inference-header-content-length"  # KServe v2 binary tensor extension


class RequestGuard:
    """ASGI middleware: body size, body time, JSON shape. See the module docstring."""

    def __init__(
        self, app: Any, *, max_bytes: int, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():  # bytes.isdigit: ASCII digits only
                await send_error(send, 400, "Content-Length must be a number of bytes")
                return
            if int(length) > self.max_bytes:
                await send_error(send, 413, self._too_large(int(length)))
                return
        try:
            body, more = await asyncio.wait_for(self._read(receive), self.body_timeout_s)
        except TimeoutError:
            await send_error(
                send,
                408,
                f"the request body did not arrive within {self.body_timeout_s:g} s "
                f"(serve.body_timeout_s); send it at once",
            )
            return
        except _TooLarge as e:
            await send_error(send, 413, self._too_large(e.size))
            return
        if more is not None:  # the client went away: the app sees the disconnect
            await self.app(scope, _replay(more, receive), send)
            return
        try:
            _check_json_part(headers, body)
        except BadRequest as e:
            await send_error(send, 400, str(e))
            return
        await self.app(
            scope,
            _replay({"type": "http.request", "body": body, "more_body": False}, receive),
            send,
        )

    async def _read(self, receive: Any) -> tuple[bytes, dict[str, Any] | None]:
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"", message  # http.disconnect: pass it on
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                raise _TooLarge(seen)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    def _too_large(self, size: int) -> str:
        return (
            f"the request body has {size:,}+ bytes; at most {self.max_bytes:,} are accepted "
            f"(serve.max_request_bytes)"
        )


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def _check_json_part(headers: dict[bytes, bytes], body: bytes) -> None:
    media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    binary = headers.get(BINARY_HEADER)
    if binary is not None and binary.isdigit():
        check_json(body[: int(binary)], what="the JSON part of the request")
    elif media == b"application/json" or media.endswith(b"+json"):
        check_json(body)


def _replay(first: dict[str, Any], receive: Any) -> Any:
    """``first``, then the real channel (which reports the client's disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return first
        message: dict[str, Any] = await receive()
        return message

    return replay


async def send_error(send: Any, status: int, message: str) -> None:
    """The error body, sent before the app runs (so no exception handler can)."""
    body = json.dumps(error_body(message)).encode()
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
