"""/docs (Swagger UI) and /redoc (ReDoc) work offline: every script, style sheet and icon
their pages load comes from the server itself (the fastapi-offline package), none from a
CDN. The browser test runs Chromium with every request off 127.0.0.1 aborted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serve_helpers import live_server, serve_config

from dlstack.serve._app import create_app

# What each asset must be served as (a browser refuses a script sent as text/plain).
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
INFER_PATH = "/v2/models/{name}/infer"


@pytest.fixture(scope="module")
def client(exported: Path) -> Iterator[TestClient]:
    with TestClient(create_app([exported], config=serve_config())) as c:
        yield c


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
def test_every_asset_of_the_docs_pages_is_served_locally(
    client: TestClient, page: str, assets: set[str]
) -> None:
    html = client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
    # The page's own assets, all of them: a CDN build would name https://cdn.jsdelivr.net.
    assert {ref.rsplit("/", 1)[-1] for ref in refs} == assets, refs
    assert "http" not in html.text.replace("http-equiv", ""), "an absolute URL in the page"
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref  # a path on this server
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        want = CONTENT_TYPES[Path(ref).suffix]
        assert want in asset.headers["content-type"], (ref, asset.headers["content-type"])
        assert len(asset.content) > 1000, ref  # the real bundle, not a stub
    # What the bundles would fetch by themselves is refused (ReDoc's logo from its CDN).
    assert "default-src 'self'" in html.headers["content-security-policy"]
    # The document the page renders is local too.
    assert "/openapi.json" in html.text
    assert INFER_PATH in client.get("/openapi.json").json()["paths"]


# -- in a browser, offline -----------------------------------------------------------------


@pytest.fixture
def docs_url(exported: Path) -> Iterator[str]:
    with live_server(create_app([exported], config=serve_config())) as url:
        yield url


def _offline_page(browser, attempted: list[str]):
    """A page that aborts (and records) every request that does not go to 127.0.0.1."""
    page = browser.new_page()

    def route(r) -> None:
        url = r.request.url
        if re.match(r"^(https?|wss?)://127\.0\.0\.1(:\d+)?/", url) or url.startswith(
            ("data:", "blob:")
        ):
            r.continue_()
        else:
            attempted.append(url)
            r.abort()

    page.route("**/*", route)
    return page


@pytest.mark.browser
def test_swagger_ui_and_redoc_render_with_the_network_cut_off(docs_url: str) -> None:
    from services import CHROMIUM_ARGS, playwright_and_chromium

    sync_playwright, chromium = playwright_and_chromium()
    attempted: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = _offline_page(browser, attempted)
            page.goto(f"{docs_url}/docs")
            # Swagger UI rendered the spec: the infer operation's row is on the page.
            infer = page.locator(f'.opblock-summary-path[data-path="{INFER_PATH}"]')
            infer.first.wait_for(timeout=30_000)
            assert infer.count() == 1
            assert "Inference (Open Inference Protocol)" in page.inner_text("#swagger-ui")

            page = _offline_page(browser, attempted)
            page.goto(f"{docs_url}/redoc")
            # ReDoc rendered the spec: the infer operation has its section, with its path.
            heading = page.locator("h2", has_text="Inference (Open Inference Protocol)")
            heading.first.wait_for(timeout=30_000)
            assert "dlstack prediction server" in page.inner_text("h1")
            assert INFER_PATH in page.inner_text("body")
        finally:
            browser.close()
    assert attempted == [], f"the docs pages asked the network for {attempted}"
