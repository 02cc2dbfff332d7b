"""ASGI middleware of the prediction server: refuse a body over serve.max_request_bytes.

(The metrics middleware, which times every request, is ``_monitoring.MetricsMiddleware``.)
"""

from __future__ import annotations

import json
from typing import Any

from dlstack.web import PayloadTooLarge, error_body

__all__ = ["BodyLimit"]


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
