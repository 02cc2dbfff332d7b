"""A new user's folder of color photos of mixed sizes, through every stage.

The color-shapes set (tests/color_shapes.py) has three classes that only the hue tells
apart. The fast test checks the contract (color kept from ingest to serving, any size
accepted, the spec inferred, recorded and applied the same way twice); the slow one the
quality bar (color >= 0.95 where a grayscale pipeline stays near chance).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from color_shapes import COLORS, draw, write_color_shapes
from dlstack import lifecycle
from dlstack.config import init_project, load_project
from dlstack.data import Snapshot
from dlstack.inputs import decode_image, prepare_with
from dlstack.package import load_package


@pytest.fixture(scope="module")
def color_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("color")
    source = write_color_shapes(root / "shapes", per_class=30)
    init_project(root / "proj", str(source), max_epochs=8)
    toml = root / "proj" / "dlstack.toml"
    toml.write_text(toml.read_text().replace("batch_size = 64", "batch_size = 16"))
    project = load_project(root / "proj")
    return project, lifecycle.run(project, progress=False, doctor_budget_s=None)


def test_init_infers_the_input_and_writes_it_for_the_user(color_run) -> None:
    project, _ = color_run
    text = (project.root / "dlstack.toml").read_text()
    assert "[data.image]" in text and "channels = 3" in text
    assert "90 of 90 images hold color" in text  # said how it was inferred
    image = project.config.data.image
    assert image.channels == 3 and image.resize == "fit" and image.background == "any"
    # Sizes are all different (24-64 px): the median, to a multiple of 4.
    assert image.size is not None and all(s % 4 == 0 and 24 <= s <= 64 for s in image.size)


def test_color_is_kept_from_checkout_to_the_package(color_run) -> None:
    project, out = color_run
    h, w = project.config.data.image.size
    assert out.snapshot.images.shape[1:] == (h, w, 3)  # not silently gray
    spec = json.loads((out.package / "model.json").read_text())["input"]
    assert spec["shape"] == [-1, 3, h, w] and spec["color"] == "rgb"
    assert spec["resize"] == "fit" and spec["background"] == "any"
    assert len(spec["normalization"]["mean"]) == 3
    assert out.evaluation.metrics["accuracy"] > 0.6  # 8 epochs on 72 images: well above 1/3


def test_serving_prepares_an_image_exactly_as_checkout_did(color_run, tmp_path: Path) -> None:
    _, out = color_run
    package = load_package(out.package)
    rng = np.random.default_rng(7)
    photo = draw("blue", rng).resize((97, 41))  # a size no training image had
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    served = package.predict_images([buffer.getvalue()], top_k=3)[0]
    # The training path: the same bytes through checkout's preparation, then the arrays.
    image, _ = decode_image(buffer.getvalue())
    pixels = prepare_with(image, package.spec.input.image_spec()).pixels
    from dlstack.inputs import to_model_input

    norm = package.spec.input.normalization
    probs = package.predict_arrays(to_model_input(pixels[None], norm.mean, norm.std))[0]
    assert served.label == package.labels[int(probs.argmax())]
    assert dict(served.top_k)[served.label] == pytest.approx(float(probs.max()), rel=1e-5)
    assert any("resized from 97x41" in n for n in served.notices)
    assert not any("grayscale" in n or "inverted" in n for n in served.notices)

    from dlstack.serve._app import create_app

    with TestClient(create_app([out.package])) as client:
        answer = client.post(
            "/predict", content=buffer.getvalue(), headers={"content-type": "image/png"}
        )
    assert answer.status_code == 200 and answer.json()["label"] == served.label

    path = tmp_path / "photo.png"
    photo.save(path)
    cli = subprocess.run(
        [sys.executable, "-m", "dlstack", "predict", str(out.package), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0 and served.label in cli.stdout, cli.stderr


def test_resize_policies_bound_every_shape(tmp_path: Path) -> None:
    from dlstack.inputs import ImageSpec

    for resize in ("fit", "stretch", "crop"):
        spec = ImageSpec(3, (16, 24), resize, "any")
        for size in ((60000, 1), (1, 60000), (24, 16), (5, 7)):
            image = Image.new("RGB", size, (10, 200, 30))
            pixels = prepare_with(image, spec).pixels
            assert pixels.shape == (16, 24, 3)
            if resize != "fit":  # no padding: the color fills the whole image
                assert (pixels[..., 1] > 150).all()


@pytest.mark.slow
def test_color_reaches_95_percent_where_grayscale_cannot(tmp_path: Path) -> None:
    from dlstack.train import fit

    source = write_color_shapes(tmp_path / "shapes", per_class=100)
    init_project(tmp_path / "proj", str(source), max_epochs=15)
    project = load_project(tmp_path / "proj")
    out = lifecycle.run(project, progress=False, doctor_budget_s=None)
    assert out.evaluation.metrics["accuracy"] >= 0.95
    # The same snapshot, gray: the classes have the same luminance.
    s = out.snapshot
    gray = np.stack([np.asarray(Image.fromarray(np.asarray(im)).convert("L")) for im in s.images])
    gray_run = fit(project, Snapshot(s.version, s.classes, gray, s.labels, s.splits, s.ids))
    import torch

    from dlstack.inputs import to_model_input

    test = Snapshot(s.version, s.classes, gray, s.labels, s.splits, s.ids).split("test")
    x = to_model_input(test.images, gray_run.normalization.mean, gray_run.normalization.std)
    with torch.no_grad():
        predicted = gray_run.model(torch.from_numpy(x)).argmax(1).numpy()
    assert float((predicted == test.labels).mean()) < 0.7
    assert len(COLORS) == 3
