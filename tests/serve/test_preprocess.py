"""Preprocessing of user images: each change is made deliberately and reported."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dlstack.errors import DataError
from dlstack.inputs import decode_image, prepare_image, preprocess_images


def _encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_wide_image_is_padded_not_stretched() -> None:
    # A thin white bar in a 40x10 image: padded to 40x40 first, so at 8x8 it stays a thin
    # bar across the middle rows; stretching would smear it over every row.
    a = np.zeros((10, 40), np.uint8)
    a[4:6, 4:36] = 255
    prepared = prepare_image(Image.fromarray(a), size=(8, 8))
    rows_lit = np.flatnonzero((prepared.pixels > 32).any(axis=1))
    assert set(rows_lit) <= {3, 4} and len(rows_lit) >= 1
    assert any("40x10" in n and "8x8" in n for n in prepared.notices)


def test_gray_rgb_is_not_reported_as_color() -> None:
    # Many tools save grayscale as RGB; nothing is lost converting it, so no notice.
    gray_rgb = Image.fromarray(np.zeros((8, 8), np.uint8)).convert("RGB")
    assert prepare_image(gray_rgb, size=(8, 8)).notices == []


def test_transparent_canvas_drawing_is_composited_and_inverted() -> None:
    # A browser canvas: black strokes on transparent pixels -> white strokes on black.
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[2:6, 3:5] = (0, 0, 0, 255)
    prepared = prepare_image(Image.fromarray(rgba, "RGBA"), size=(8, 8))
    assert prepared.pixels[3, 3] == 255 and prepared.pixels[0, 0] == 0
    assert any("transparent" in n for n in prepared.notices)
    assert any("inverted" in n for n in prepared.notices)


def test_sixteen_bit_images_are_scaled_to_eight_bit() -> None:
    a = np.zeros((8, 8), np.uint16)
    a[4, 4] = 65535
    prepared = prepare_image(Image.fromarray(a), size=(8, 8))
    assert prepared.pixels.dtype == np.uint8 and prepared.pixels[4, 4] == 255


def test_jpeg_is_accepted() -> None:
    data = _encode(Image.fromarray(np.zeros((8, 8), np.uint8)), "JPEG")
    x, _ = preprocess_images([data], size=(8, 8), mean=[0.5], std=[0.5])
    assert x.shape == (1, 1, 8, 8) and x.dtype == np.float32


def test_too_many_pixels_is_refused_before_decoding() -> None:
    data = _encode(Image.new("L", (100, 100)))
    with pytest.raises(DataError, match="10,000 pixels, more than the 5,000 accepted"):
        decode_image(data, name="big.png", max_pixels=5_000)


def test_pil_decompression_bomb_becomes_a_data_error(monkeypatch) -> None:
    # PIL refuses images over 2x MAX_IMAGE_PIXELS; that must reach the user as a DataError.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    with pytest.raises(DataError, match="decompression bomb"):
        decode_image(_encode(Image.new("L", (100, 100))), name="bomb.png")


@pytest.mark.parametrize(
    "data",
    [b"just some text", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n", b""],
    ids=["text", "eps-not-accepted", "empty"],
)
def test_non_images_are_a_data_error_listing_formats(data: bytes) -> None:
    # EPS would run ghostscript: it must be refused like any non-image.
    with pytest.raises(DataError, match=r"upload\.bin.*accepted formats: PNG"):
        decode_image(data, name="upload.bin")


def test_truncated_png_is_a_data_error() -> None:
    data = _encode(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    )
    with pytest.raises(DataError, match=r"truncated\.bin"):
        decode_image(data[: len(data) // 2], name="truncated.bin")


def test_no_images_is_a_data_error() -> None:
    with pytest.raises(DataError, match="no images"):
        preprocess_images([], size=(8, 8), mean=[0.5], std=[0.5])


@pytest.mark.parametrize("size", [(60000, 1), (1, 60000)], ids=["wide", "tall"])
def test_extreme_aspect_ratio_costs_no_more_than_its_pixels(size: tuple[int, int]) -> None:
    # A 140-byte 60000x1 PNG used to be padded to 60000x60000 (3.7 GB) before resizing.
    # Peak memory of a clean process is the observable that does not depend on load.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import io
        from PIL import Image
        from dlstack.inputs import preprocess_images
        buffer = io.BytesIO()
        Image.new("L", {size!r}, 255).save(buffer, format="PNG")
        x, prepared = preprocess_images([buffer.getvalue()], size=(28, 28), mean=[0.1], std=[0.3])
        assert x.shape == (1, 1, 28, 28), x.shape
        # VmHWM: this process's peak resident memory (ru_maxrss carries over from a
        # forking parent across exec, so a large pytest process would show instead).
        status = open("/proc/self/status").read()
        print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 300, f"peak {done.stdout.strip()} MB for a 60,000-pixel image"
