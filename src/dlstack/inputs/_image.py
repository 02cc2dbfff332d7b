"""Images: decode (one decoder, one pixel cap), inspect at ingest, prepare for a model.

numpy and PIL only: ingest, checkout and torch-free serving all read images here.

What a person sends is rarely what the model was trained on. Each step that changes the
image says so in a notice, so a surprising prediction can be traced to its input:

1. decode with PIL, only the formats in ``ACCEPTED_FORMATS`` (no EPS/ghostscript and the
   like), refusing images over ``max_pixels`` before their pixels are decoded;
2. transparent pixels are composited over white (how a browser shows them);
3. color -> the model's color mode (grayscale for the digits; gray into an RGB model
   repeats its channel);
4. for data of strokes on a background (the digits are white on black, as in MNIST), a
   background of the other brightness is inverted; photos ("any") never are;
5. another size -> the input spec's resize policy: ``fit`` (keep the aspect ratio, pad
   with background; never padded first: a 60000x1 image must not become 60000x60000),
   ``stretch``, or ``crop`` (cover, keep the center); every step's work and memory are
   bounded by the input and the output size;
6. :func:`dlstack.inputs.to_model_input` with the package's mean/std.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dlstack.errors import DataError
from dlstack.inputs._normalize import to_model_input

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "MAX_LINE_WIDTH",
    "VARIABLE_WIDTH",
    "ImageInfo",
    "ImageSource",
    "PreparedImage",
    "decode_image",
    "decode_pixels",
    "inspect_image",
    "prepare_image",
    "preprocess_images",
]

ImageSource = str | Path | bytes

# Formats with mature, widely fuzzed PIL decoders; PIL would also open EPS (runs
# ghostscript), PSD, FITS... which a prediction endpoint has no reason to accept.
ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
_FORMAT_NAMES = "PNG, JPEG, BMP, GIF, TIFF, WebP, PPM/PGM"
# File names a folder source reads as images (the formats above).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm")
# Above the largest phone cameras (48 MP), below PIL's own warning threshold (89 MP); a
# bigger "photo of a digit" is far more likely a decompression bomb than a real input.
# Ingest and serving share it (serving's is `[serve] max_image_pixels`).
DEFAULT_MAX_PIXELS = 50_000_000
# Modes a dataset may store; others (CMYK, LAB, ...) are asked to be saved as gray or RGB.
STORED_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I")
# A channel spread above this is color; below is JPEG chroma noise on a gray image.
_COLOR_SPREAD = 8
# Share of the shorter side that counts as border when judging the background.
_BORDER_FRACTION = 0.05

# ``size = (H, VARIABLE_WIDTH)``: line images keep their aspect ratio at height H, and a
# batch is padded on the right to its widest line (``pad_widths``). The ONNX convention
# for a dynamic axis, so a package's declared shape reads (N, C, H, -1).
VARIABLE_WIDTH = -1
# The widest line a variable-width input takes (64 characters of a 32-pixel-high line);
# a wider one is a DataError, not a silently squeezed image.
MAX_LINE_WIDTH = 4096
# A line is run at its width rounded up to this many pixels, as training batches round it:
# a line model with a stride of up to 8 sees every column, and a line's answer depends on
# the line alone (lines whose widths round alike share a batch without changing it).
LINE_WIDTH_MULTIPLE = 8

Color = Literal["grayscale", "rgb"]
Background = Literal["dark", "light"]


@dataclass(frozen=True)
class PreparedImage:
    """One decoded image at the model's size, before standardization."""

    name: str
    pixels: np.ndarray  # uint8 (H, W) for grayscale, (H, W, 3) for rgb
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImageInfo:
    """What ingest records of an image: its size and PIL mode; whether its pixels hold
    color and how bright its border is (what the input spec is inferred from)."""

    width: int
    height: int
    mode: str
    color: bool = False
    border: float = 0.0  # median brightness of the outer 5%, 0..255


def decode_image(
    source: ImageSource, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[Image.Image, str]:
    """Open and fully decode one image; every failure is a DataError naming it."""
    if isinstance(source, bytes | bytearray):
        label = name or "image bytes"
        fp: io.BytesIO | Path = io.BytesIO(source)
    else:
        fp = Path(source)
        label = name or str(fp)
        if not fp.is_file():
            raise DataError(f"{label}: no such file; pass the path of an image file")
    accepted = f"accepted formats: {_FORMAT_NAMES}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp, formats=ACCEPTED_FORMATS) as opened:
                width, height = opened.size  # from the header: nothing decoded yet
                if width * height > max_pixels:
                    raise DataError(
                        f"{label} is {width}x{height} = {width * height:,} pixels, more than "
                        f"the {max_pixels:,} accepted; scale it down before predicting"
                    )
                opened.load()
                image = opened.copy()  # first frame, detached from the file
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(
            f"{label} was refused as a possible decompression bomb ({e}); "
            f"send an image of at most {max_pixels:,} pixels"
        ) from None
    except UnidentifiedImageError:
        raise DataError(f"{label} is not an image dlstack can read; {accepted}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(
            f"{label} could not be decoded ({e}); is it truncated or corrupt? {accepted}"
        ) from None
    return image, label


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Decode stored bytes fully (a truncated file fails here, not at training time) and
    say their size and mode; a DataError says why an image cannot be stored."""
    if not data:
        raise DataError("empty or unreadable file (or a link out of the source folder)")
    try:
        image, _ = decode_image(data, name="the file", max_pixels=max_pixels)
    except DataError as e:
        raise DataError(f"not a readable image ({e})") from None
    if image.mode not in STORED_MODES:
        raise DataError(f"image mode {image.mode} is not supported; save it as grayscale or RGB")
    # Color and border judged on a small copy: the answer is the same, the cost is not.
    small = _to_8bit(_flatten_alpha(image.copy(), []))
    small.thumbnail((128, 128))
    gray = np.asarray(small.convert("L"))
    return ImageInfo(
        image.width, image.height, image.mode, _holds_color(small), _border_median(gray)
    )


def _holds_color(image: Image.Image) -> bool:
    """True when the channels differ by more than JPEG chroma noise somewhere."""
    if image.mode != "RGB":
        return False
    rgb = np.asarray(image, dtype=np.int16)
    return int((rgb.max(axis=2) - rgb.min(axis=2)).max()) > _COLOR_SPREAD


def decode_pixels(data: bytes, color: Color = "grayscale") -> np.ndarray:
    """Stored bytes -> uint8 (H, W) grayscale or (H, W, 3) RGB pixels, as checkout reads them."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L" if color == "grayscale" else "RGB"), dtype=np.uint8)


def prepare_image(
    image: Image.Image,
    *,
    size: tuple[int, int],
    color: Color = "grayscale",
    background: Background | Literal["any"] = "dark",
    resize: Literal["fit", "stretch", "crop"] = "fit",
    name: str = "image",
) -> PreparedImage:
    """Bring a decoded image to the model's color mode, background and (H, W) size.

    The stated rules: transparency is composited over white, palette and other modes
    become RGB (or L for a grayscale model: a color image converted says so in a notice),
    a grayscale image for an RGB model repeats its one channel; with ``background``
    "dark" or "light" an image of the other brightness is inverted, with "any" never.
    """
    notices: list[str] = []
    image = ImageOps.exif_transpose(image)  # phone photos store rotation in EXIF
    image = _flatten_alpha(image, notices)
    rgb_or_gray = _to_8bit(image)
    if color == "grayscale":
        if _holds_color(rgb_or_gray):
            notices.append(
                f"color image ({image.mode}) converted to grayscale, as the "
                f"model was trained on grayscale images"
            )
        work = rgb_or_gray.convert("L")
    else:
        work = rgb_or_gray.convert("RGB")

    if background != "any":
        gray = np.asarray(work.convert("L"))
        border = _border_median(gray)
        is_light = border > 127
        if is_light != (background == "light"):
            work = ImageOps.invert(work)
            have, want = ("light", "dark") if is_light else ("dark", "light")
            notices.append(
                f"{have} background (border brightness {border:.0f}/255) inverted to "
                f"{want}, like the training images"
            )

    target_h, target_w = size
    if target_w == VARIABLE_WIDTH:
        return PreparedImage(name, _to_height(work, target_h, name, notices), notices)
    if work.size != (target_w, target_h):
        before = f"{work.size[0]}x{work.size[1]}"
        fill = 255 if background == "light" else 0
        work, how = RESIZERS[resize](work, target_w, target_h, fill)
        notices.append(
            f"resized from {before} to the model's {target_w}x{target_h} (width x height), {how}"
        )
    return PreparedImage(name, np.asarray(work, dtype=np.uint8).copy(), notices)


def _to_height(image: Image.Image, height: int, name: str, notices: list[str]) -> np.ndarray:
    """A line image scaled to ``height`` keeping its aspect ratio (variable width)."""
    w, h = image.size
    width = max(1, round(w * height / h))
    if width > MAX_LINE_WIDTH:
        raise DataError(
            f"{name} is {w}x{h} (width x height): at the model's height {height} it would be "
            f"{width} pixels wide, more than the {MAX_LINE_WIDTH} a line may be; crop it "
            f"into shorter lines"
        )
    if (width, h) != (w, height):
        notices.append(
            f"resized from {w}x{h} to the model's height {height} (width {width}, keeping "
            f"the aspect ratio)"
        )
        image = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8).copy()


def line_width(width: int) -> int:
    """The width a line of ``width`` pixels is run at: rounded up to LINE_WIDTH_MULTIPLE.

    >>> line_width(1), line_width(8), line_width(100)
    (8, 8, 104)
    """
    return -(-int(width) // LINE_WIDTH_MULTIPLE) * LINE_WIDTH_MULTIPLE


def line_groups(pixels: Sequence[np.ndarray], fill: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Lines -> (their indices, uint8 batch) per run width (:func:`line_width`), in order
    of first appearance: each line padded on the right with ``fill`` to its own run width,
    never to another line's, so a line reads the same alone or in company.

    >>> [(i.tolist(), b.shape) for i, b in line_groups([np.ones((2, 3), np.uint8)] * 2)]
    [([0, 1], (2, 2, 8))]
    """
    runs = np.array([line_width(p.shape[1]) for p in pixels], dtype=np.int64)
    groups = []
    for width in dict.fromkeys(runs.tolist()):
        rows = np.flatnonzero(runs == width)
        batch, _ = pad_widths([pixels[int(i)] for i in rows], fill, width)
        groups.append((rows, batch))
    return groups


def pad_widths(
    pixels: Sequence[np.ndarray], fill: int = 0, width: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images of one height and different widths -> one uint8 batch (N, H, W[, 3]) padded
    on the right with ``fill`` to the widest (or to ``width``), and their true widths
    (int32 (N,)): how variable-width lines are batched at checkout and at serving.

    >>> batch, widths = pad_widths([np.ones((2, 3), np.uint8), np.ones((2, 1), np.uint8)])
    >>> batch.shape, widths.tolist(), batch[1].tolist()
    ((2, 2, 3), [3, 1], [[1, 0, 0], [1, 0, 0]])
    """
    if not pixels:
        raise DataError("no images to batch")
    widths = np.array([p.shape[1] for p in pixels], dtype=np.int32)
    heights = {p.shape[0] for p in pixels}
    if len(heights) != 1:
        raise DataError(f"line images of one batch must share a height, got {sorted(heights)}")
    target = int(widths.max()) if width is None else width
    if target < int(widths.max()):
        raise DataError(f"cannot pad lines of width {int(widths.max())} to {target}")
    first = pixels[0]
    batch = np.full((len(pixels), first.shape[0], target, *first.shape[2:]), fill, np.uint8)
    for row, p in enumerate(pixels):
        batch[row, :, : p.shape[1]] = p
    return batch, widths


def cut_widths(images: np.ndarray, widths: np.ndarray) -> list[np.ndarray]:
    """The inverse of :func:`pad_widths`: each padded line cut back to its own width.

    >>> [line.shape for line in cut_widths(np.zeros((2, 4, 9), np.uint8), np.array([9, 3]))]
    [(4, 9), (4, 3)]
    """
    return [np.asarray(im)[:, : int(w)] for im, w in zip(images, widths, strict=True)]


def preprocess_images(
    sources: Sequence[ImageSource],
    *,
    size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    color: Color = "grayscale",
    background: Background | Literal["any"] = "dark",
    resize: Literal["fit", "stretch", "crop"] = "fit",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, list[PreparedImage]]:
    """Decode and prepare every source -> (float32 (N, C, H, W), the prepared images);
    variable-width lines are padded to the widest (each one's own width is its
    ``pixels.shape[1]``)."""
    if len(sources) == 0:
        raise DataError("no images given; pass one or more image files")
    prepared = []
    for i, source in enumerate(sources):
        name = f"image #{i + 1} (bytes)" if isinstance(source, bytes | bytearray) else None
        image, label = decode_image(source, name=name, max_pixels=max_pixels)
        prepared.append(
            prepare_image(
                image, size=size, color=color, background=background, resize=resize, name=label
            )
        )
    if size[1] == VARIABLE_WIDTH:  # lines: padded on the right with the background
        batch, _ = pad_widths([p.pixels for p in prepared], 255 if background == "light" else 0)
    else:
        batch = np.stack([p.pixels for p in prepared])  # (N, H, W) or (N, H, W, 3)
    return to_model_input(batch, mean, std), prepared


def _flatten_alpha(image: Image.Image, notices: list[str]) -> Image.Image:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode not in ("RGBA", "LA", "PA"):
        return image
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"))
    if alpha.min() == 255:
        return rgba.convert("RGB")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    notices.append("transparent pixels composited over white")
    return Image.alpha_composite(canvas, rgba).convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """Any PIL mode -> "L" or "RGB" with 0..255 values."""
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(image, dtype=np.float64)
        if image.mode == "F" and a.max(initial=0.0) <= 1.0:
            a = a * 255.0  # float images are usually on the 0..1 scale
        elif a.max(initial=0.0) > 255:
            a = a / 257.0  # 16-bit range -> 8-bit
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("1", "LA", "La"):
        return image.convert("L")
    return image.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, RGBX, ...


def _border_median(gray: np.ndarray) -> float:
    h, w = gray.shape
    b = max(1, round(_BORDER_FRACTION * min(h, w)))
    ring = np.concatenate(
        [gray[:b].ravel(), gray[-b:].ravel(), gray[:, :b].ravel(), gray[:, -b:].ravel()]
    )
    return float(np.median(ring))


def _stretch(
    image: Image.Image, target_w: int, target_h: int, fill: int
) -> tuple[Image.Image, str]:
    resized = image.resize((target_w, target_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return resized, "stretched (the aspect ratio changed)"


def _crop(image: Image.Image, target_w: int, target_h: int, fill: int) -> tuple[Image.Image, str]:
    """Scale to cover the target, keep the center. Only the kept box of the source is
    resampled (``box``), so nothing larger than the input or the output is made."""
    w, h = image.size
    scale = max(target_w / w, target_h / h)
    box_w, box_h = min(w, target_w / scale), min(h, target_h / scale)
    left, top = (w - box_w) / 2, (h - box_h) / 2
    resized = image.resize(
        (target_w, target_h),
        Image.Resampling.LANCZOS,
        box=(left, top, left + box_w, top + box_h),
        reducing_gap=3.0,
    )
    return resized, "keeping the aspect ratio (the center, edges cropped)"


def _fit_policy(
    image: Image.Image, target_w: int, target_h: int, fill: int
) -> tuple[Image.Image, str]:
    return _fit(image, target_w, target_h, fill), "keeping the aspect ratio (padded)"


RESIZERS = {"fit": _fit_policy, "stretch": _stretch, "crop": _crop}


def _fit(image: Image.Image, target_w: int, target_h: int, fill: int) -> Image.Image:
    """Resize to fit inside (target_w, target_h) keeping the aspect ratio, then center on a
    background canvas of exactly that size. Work and memory are bounded by the input and
    the output: nothing larger than either is ever made."""
    w, h = image.size
    scale = min(target_w / w, target_h / h)
    fit_w, fit_h = max(1, round(w * scale)), max(1, round(h * scale))
    # reducing_gap: a large image is first shrunk by a cheap box reduction (integer factor),
    # then LANCZOS-resampled; the result is as sharp and costs far less than LANCZOS alone.
    resized = image.resize((fit_w, fit_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if (fit_w, fit_h) == (target_w, target_h):
        return resized
    canvas_fill: int | tuple[int, int, int] = fill if image.mode == "L" else (fill,) * 3
    canvas = Image.new(image.mode, (target_w, target_h), canvas_fill)
    canvas.paste(resized, ((target_w - fit_w) // 2, (target_h - fit_h) // 2))
    return canvas
