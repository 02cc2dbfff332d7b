"""The web page in a real browser: draw a digit on the canvas, see the model's answer,
flag it as wrong. Debian's chromium through Playwright (DESIGN.md, "Real services")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from serve_helpers import live_server, serve_config

from dlstack.compress import export_package
from dlstack.config import Config, Project
from dlstack.data import Snapshot
from dlstack.inputs import channel_stats, to_model_input
from dlstack.serve._app import create_app
from dlstack.train._result import Normalization, TrainResult

pytestmark = pytest.mark.browser

from services import CHROMIUM_ARGS, playwright_and_chromium  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture(scope="module")
def browser_tools():
    return playwright_and_chromium()


@pytest.fixture(scope="module")
def mnist_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained for a few seconds on the bundled 28x28 digits, exported."""
    snap = Snapshot.from_builtin("digits")
    train, test = snap.split("train"), snap.split("test")
    norm = Normalization(*channel_stats(train.images))
    x = torch.from_numpy(to_model_input(train.images, norm.mean, norm.std))
    y = torch.from_numpy(train.labels)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 7 * 7, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(5):
        for batch in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()
    x_test = to_model_input(test.images, norm.mean, norm.std)
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(x_test)).argmax(1).numpy() == test.labels).mean()
    assert accuracy > 0.9, accuracy  # a model worth drawing for
    run_dir = tmp_path_factory.mktemp("mnist-run")
    result = TrainResult(
        run_id="run-mnist",
        run_dir=run_dir,
        model=model,
        task="classification",
        architecture="small-cnn",
        normalization=norm,
        input_shape=(1, 28, 28),
        classes=snap.classes,
        data_version=snap.version,
        code_version="test",
        config=Config(),
        best_checkpoint=run_dir / "best.ckpt",
    )
    return export_package(result, run_dir / "models", "digits", sample=x_test[:8])


FEEDBACK_KEY = "a-predict-key-for-the-page"


@pytest.fixture
def page_url(mnist_package: Path, digits8_project: Project) -> Iterator[str]:
    import hashlib

    # /feedback needs a key by default: the page asks for it when the server says so.
    digest = hashlib.sha256(FEEDBACK_KEY.encode()).hexdigest()
    keys = [{"name": "page", "role": "predict", "sha256": digest}]
    cfg = serve_config(log_predictions=True, api_keys=keys)
    with live_server(create_app([mnist_package], config=cfg, project=digits8_project)) as url:
        yield url


# Strokes in canvas coordinates (the canvas is 280x280).
STROKES = {
    "1": [[(140, 40), (140, 240)]],
    "0": [[(140 + 60 * np.sin(t), 140 - 95 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]],
    "7": [[(70, 50), (210, 50), (120, 240)]],
}


def _draw(page, strokes) -> None:
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        page.mouse.up()


def test_draw_a_digit_and_see_the_answer_then_flag_it(browser_tools, page_url: str) -> None:
    sync_playwright, chromium = browser_tools
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_url)
            page.wait_for_selector("#model option", state="attached")
            for digit, strokes in STROKES.items():
                page.click("#clear")
                with page.expect_response(
                    lambda r: "/predict" in r.url and r.request.method == "POST"
                ) as answer:
                    _draw(page, strokes)
                # Drawing is predicted live, several times a stroke: wait for the answer
                # to the last (complete) drawing.
                page.wait_for_function(
                    "(() => { const l = document.querySelector('#label');"
                    " return l.dataset.state === 'done'"
                    " && l.dataset.seq === document.querySelector('#pad').dataset.sent; })()"
                )
                shown = page.inner_text("#label")
                assert answer.value.ok
                assert shown == digit, f"drew {digit}, the page shows {shown}"
                assert "confidence" in page.inner_text("#confidence")
                assert page.locator("#topk .bar").count() == 3
            # "This is wrong": the drawing goes to the labeling queue, once the page has
            # the key the server asks for (prediction needed none).
            page.click("#wrong")
            page.select_option("#correct", "1")
            page.click("#send")
            page.wait_for_function("document.querySelector('#status').textContent.length > 0")
            assert "needs a predict API key" in page.inner_text("#status")
            assert page.locator("#keybox").is_visible()
            page.fill("#key", FEEDBACK_KEY)
            page.click("#send")  # the same drawing, the same answer, now with the key
            page.wait_for_function(
                "document.querySelector('#status').textContent.includes('queued')"
            )
            assert "queued for labeling" in page.inner_text("#status")
        finally:
            browser.close()
