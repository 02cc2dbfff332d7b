"""The API docs pages (/docs: Swagger UI, /redoc: ReDoc) load nothing from elsewhere.

Their scripts and styles come from the fastapi-offline package (``_app`` builds the app
with it). What the bundles would still fetch on their own (ReDoc's menu shows the Redocly
logo from cdn.redoc.ly) is refused by a Content-Security-Policy on the two pages: a
browser reading the docs of a server on a closed network tells no one outside.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DOCS_CSP", "DocsPolicy"]

# The inline parts: Swagger UI's start script, ReDoc's styles; ReDoc's search runs in a
# worker made from a blob: URL, its icons are data: URLs.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


class DocsPolicy:
    """ASGI middleware: the Content-Security-Policy header on the docs pages' responses
    (every other request passes untouched: one comparison)."""

    def __init__(self, app: Any, pages: tuple[str, ...] = ("/docs", "/redoc")) -> None:
        self.app = app
        self.pages = frozenset(pages)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in self.pages:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (b"content-security-policy", DOCS_CSP.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_policy)
