"""What a model's image input is: channels, size, how other sizes get there, background.

One :class:`ImageSpec` is applied at checkout (training arrays) and at serving, and the
model package records it, so a photo is prepared the same way in both places. A project
declares it in ``[data.image]``; what it leaves out is inferred from the data at the
first ingest (:func:`infer_image_spec`: the majority size, color when the images hold
color) and reported.

>>> spec = ImageSpec(channels=3, size=(32, 48))
>>> spec.color, spec.shape, spec.key()
('rgb', (3, 32, 48), 'c3-32x48-fit-any')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from dlstack.inputs._image import (
    VARIABLE_WIDTH,
    Background,
    Color,
    ImageInfo,
    PreparedImage,
    prepare_image,
)

__all__ = [
    "BACKGROUNDS",
    "RESIZE_POLICIES",
    "ImageSpec",
    "Resize",
    "infer_image_spec",
    "prepare_with",
]

Resize = Literal["fit", "stretch", "crop"]
RESIZE_POLICIES: tuple[Resize, ...] = ("fit", "stretch", "crop")
# "any": photos and the like, whose background is not a property of the data: serving
# never inverts them. "dark"/"light": strokes on a background (digits, handwriting).
BACKGROUNDS = ("dark", "light", "any")
# A background counts as the data's when this share of the images has it.
_BACKGROUND_SHARE = 0.9
# Images are color when more than this share of them holds color (a few tinted scans in a
# gray dataset do not make it a color dataset; they are converted, and ingest says so).
_COLOR_SHARE = 0.01
_MAJORITY = 0.5  # a size this share of the images has is the input size; else the median


@dataclass(frozen=True)
class ImageSpec:
    """The model's image input. ``size`` is (height, width); a width of
    :data:`VARIABLE_WIDTH` (``[H, "variable"]`` in dlstack.toml) keeps each line's aspect
    ratio at height H (the resize policy then does not apply)."""

    channels: Literal[1, 3]
    size: tuple[int, int]
    resize: Resize = "fit"
    background: Background | Literal["any"] = "any"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {self.channels}")
        if (
            len(self.size) != 2
            or self.size[0] < 1
            or (self.size[1] < 1 and self.size[1] != VARIABLE_WIDTH)
        ):
            raise ValueError(
                f'size must be [height, width] of positive ints or [height, "variable"], '
                f"got {list(self.size)}"
            )
        if self.resize not in RESIZE_POLICIES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_POLICIES)}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}")

    @property
    def color(self) -> Color:
        return "grayscale" if self.channels == 1 else "rgb"

    @property
    def variable_width(self) -> bool:
        """Line images: every example keeps its own width (batches are padded)."""
        return self.size[1] == VARIABLE_WIDTH

    @property
    def fill(self) -> int:
        """The pixel value padding and fitting use: the background's."""
        return 255 if self.background == "light" else 0

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W): one example as the model takes it (W = -1: variable)."""
        return (self.channels, *self.size)

    def key(self) -> str:
        """A short name for the arrays this spec makes (snapshot folders are keyed by it)."""
        h, w = self.size
        width = "var" if self.variable_width else str(w)
        return f"c{self.channels}-{h}x{width}-{self.resize}-{self.background}"

    def describe(self) -> str:
        h, w = self.size
        what = "grayscale" if self.channels == 1 else "RGB"
        bg = "" if self.background == "any" else f", {self.background} background"
        if self.variable_width:
            return f"{what} lines of height {h}, variable width{bg}"
        return f"{what} {w}x{h} (width x height), resize {self.resize}{bg}"

    def to_dict(self) -> dict[str, Any]:
        h, w = self.size
        return {
            "channels": self.channels,
            "size": [h, "variable" if self.variable_width else w],
            "resize": self.resize,
            "background": self.background,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageSpec:
        """The inverse of :meth:`to_dict`; ValueError/KeyError for what is not a spec."""
        size = data["size"]
        if not isinstance(size, list | tuple) or len(size) != 2:
            raise ValueError(f"size must be [height, width], got {size!r}")
        width = VARIABLE_WIDTH if size[1] in ("variable", VARIABLE_WIDTH) else int(size[1])
        return cls(
            channels=int(data["channels"]),  # type: ignore[arg-type]
            size=(int(size[0]), width),
            resize=str(data.get("resize", "fit")),  # type: ignore[arg-type]
            background=str(data.get("background", "any")),  # type: ignore[arg-type]
        )


def prepare_with(image: Image.Image, spec: ImageSpec, *, name: str = "image") -> PreparedImage:
    """:func:`prepare_image` with ``spec``'s size, color, background and resize policy."""
    return prepare_image(
        image,
        size=spec.size,
        color=spec.color,
        background=spec.background,
        resize=spec.resize,
        name=name,
    )


def infer_image_spec(infos: Iterable[ImageInfo]) -> tuple[ImageSpec, list[str]]:
    """The spec the data implies, and one line per inference, for the user to check.

    Size: the most common (H, W) when half the images have it, else the median height
    and width (to a multiple of 4). Channels: 3 when more than 1% of the images hold color
    (a channel spread above JPEG noise), else 1. Background: "dark"/"light" when 90% of
    the images' borders agree (strokes on a background), else "any".
    """
    infos = list(infos)
    if not infos:
        raise ValueError("no readable image to infer the input from")
    n = len(infos)
    sizes = Counter((i.height, i.width) for i in infos)
    (h, w), count = sizes.most_common(1)[0]
    majority = count >= _MAJORITY * n
    if not majority:
        # Mixed sizes (photos): the median height and width, to a multiple of 4.
        h = max(4, 4 * round(float(np.median([i.height for i in infos])) / 4))
        w = max(4, 4 * round(float(np.median([i.width for i in infos])) / 4))
    color = sum(i.color for i in infos)
    channels: Literal[1, 3] = 3 if color > _COLOR_SHARE * n else 1
    dark = sum(i.border < 128 for i in infos)
    background: Background | Literal["any"] = "any"
    if dark >= _BACKGROUND_SHARE * n:
        background = "dark"
    elif n - dark >= _BACKGROUND_SHARE * n:
        background = "light"
    if majority:
        sizes_note = f"size {w}x{h} (width x height): {count} of {n} images" + (
            f"; {len(sizes) - 1} other sizes are resized to it" if len(sizes) > 1 else ""
        )
    else:
        sizes_note = (
            f"size {w}x{h} (width x height): the median of {n} images of {len(sizes)} "
            f"sizes (no size holds half of them); all are resized to it"
        )
    lines = [
        sizes_note,
        f"channels {channels}: {color} of {n} images hold color",
        f"background {background}: {dark} of {n} images have a dark border",
    ]
    return ImageSpec(channels, (h, w), "fit", background), lines
