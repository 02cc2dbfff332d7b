"""The labeling page in a real browser: keys label, Backspace undoes, Space skips."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import select

from dlstack.config import load_project
from dlstack.data import create_labeling_app as create_app
from dlstack.data._catalog import staged
from dlstack.data.labeling import create_user, record_label
from dlstack.data.labeling._common import annotations_t

pytestmark = pytest.mark.browser

from services import CHROMIUM_ARGS, playwright_and_chromium  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture
def browser_tools():
    return playwright_and_chromium()


@pytest.fixture
def server(lp):
    """A real uvicorn server for the project on a free 127.0.0.1 port, stopped after."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound before the server starts: no port race
    port = sock.getsockname()[1]
    app = create_app(lp.project)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the labeling server did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_label_by_keys_with_undo_and_skip(browser_tools, lp, server):
    sync_playwright, chromium = browser_tools
    _, token = create_user(lp.catalog, "ada")
    wrong = {e: str((int(t) + 1) % 10) for e, t in lp.truth.items()}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            page.goto(f"{server}/#token={token}")

            def shown(previous=None):
                """Id of the example on screen, once it differs from ``previous``."""
                page.wait_for_function(
                    "prev => { const i = document.getElementById('image');"
                    " return !i.hidden && i.dataset.exampleId && i.complete"
                    " && i.dataset.exampleId !== prev; }",
                    arg=previous,
                )
                return page.get_attribute("#image", "data-example-id")

            # The key map is on screen: one key per digit class.
            assert page.locator("#keys kbd").count() == 10
            assert "ada" in page.inner_text("#who")

            e1 = shown()
            page.keyboard.press(lp.truth[e1])
            e2 = shown(e1)
            page.keyboard.press(wrong[e2])  # a slip ...
            e3 = shown(e2)
            page.keyboard.press("Backspace")  # ... undone: e2 comes back
            assert shown(e3) == e2
            page.keyboard.press(lp.truth[e2])
            assert shown(e2) == e3  # and the queue picks up where it was
            page.keyboard.press(" ")  # skip
            e4 = shown(e3)
            page.keyboard.press(lp.truth[e4])
            shown(e4)
            assert page.evaluate("() => window.dlstackLabel.settled()") is True
            assert "error" not in (page.get_attribute("#status", "class") or "")
        finally:
            browser.close()

    with lp.catalog.connect() as conn:
        rows = conn.execute(select(annotations_t).order_by(annotations_t.c.id)).all()
        labels = {r.example_id: r.label for r in conn.execute(staged.select())}
    # Every key press is in the catalog, by ada, with when and how long it took; the slip
    # is kept but retracted.
    assert [(r.example_id, r.user, r.label, r.retracted_at is not None) for r in rows] == [
        (e1, "ada", lp.truth[e1], False),
        (e2, "ada", wrong[e2], True),
        (e2, "ada", lp.truth[e2], False),
        (e3, "ada", None, False),
        (e4, "ada", lp.truth[e4], False),
    ]
    assert all(r.created_at is not None and r.seconds is not None for r in rows)
    # The labels (not the skip) are staged for the next commit.
    assert labels == {e1: lp.truth[e1], e2: lp.truth[e2], e4: lp.truth[e4]}


def _open(pw, chromium, url):
    browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    page = browser.new_page()
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return browser, page, errors


@pytest.fixture
def ctc_lp(lp):
    toml = lp.project.root / "dlstack.toml"
    toml.write_text(toml.read_text().replace('task = "classification"', 'task = "ctc"'))
    lp.project = load_project(lp.project.root)
    return lp


def test_transcription_by_typing(browser_tools, ctc_lp, server):
    sync_playwright, chromium = browser_tools
    lp = ctc_lp
    _, token = create_user(lp.catalog, "ada")
    with sync_playwright() as pw:
        browser, page, errors = _open(pw, chromium, f"{server}/#token={token}")
        try:
            page.wait_for_selector("#image[data-example-id]:not([data-example-id=''])")
            first = page.get_attribute("#image", "data-example-id")
            # The text box has the focus: typing and Enter submit the transcription.
            page.keyboard.type("12.05 2024")
            page.keyboard.press("Enter")
            page.wait_for_function(
                "prev => document.getElementById('image').dataset.exampleId !== prev", arg=first
            )
            second = page.get_attribute("#image", "data-example-id")
            page.keyboard.press("Escape")  # skip
            page.wait_for_function(
                "prev => document.getElementById('image').dataset.exampleId !== prev", arg=second
            )
            assert page.evaluate("() => window.dlstackLabel.settled()") is True
            assert errors == []
        finally:
            browser.close()
    with lp.catalog.connect() as conn:
        rows = conn.execute(select(annotations_t).order_by(annotations_t.c.id)).all()
    assert [(r.example_id, r.label) for r in rows] == [(first, "12.05 2024"), (second, None)]


def test_admin_and_review_pages_render(browser_tools, lp, server):
    sync_playwright, chromium = browser_tools
    _, admin = create_user(lp.catalog, "root", "admin")
    _, labeler = create_user(lp.catalog, "ada", "labeler")
    record_label(lp.catalog, lp.ids[0], "ada", lp.truth[lp.ids[0]])
    with sync_playwright() as pw:
        browser, page, errors = _open(pw, chromium, f"{server}/#token={admin}")
        try:
            page.click("#to-admin")
            page.wait_for_selector("#admin-body table")
            text = page.inner_text("#admin-body")
            # People read tables: the queue, the labelers and the accounts.
            assert "Human baseline" in text and "ada" in text and "root" in text
            page.click("#to-review")
            page.wait_for_selector("#review-list:has-text('No disagreements')")
            # A labeler's page has no admin link, and the admin view stays closed.
            page.evaluate("() => localStorage.clear()")
            page.goto(f"{server}/#token={labeler}")
            page.wait_for_selector("#who:has-text('ada')")
            assert page.is_hidden("#to-admin")
            page.goto(f"{server}/#admin")
            page.wait_for_selector("#labeling:not([hidden])")
            assert page.is_hidden("#admin")
            assert errors == []
        finally:
            browser.close()
