"""The image spec a project's data is checked out with: what ``[data.image]`` declares,
the rest from what the first ingest inferred (kept in the catalog's meta)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import DataError
from dlstack.inputs import VARIABLE_WIDTH, ImageInfo, ImageSpec

if TYPE_CHECKING:
    from dlstack.config import ImageConfig

__all__ = [
    "IMAGE_META",
    "LEGACY_SIZE_META",
    "TABLE_META",
    "inferred_spec",
    "line_spec",
    "resolve_image_spec",
]

IMAGE_META = "image"  # catalog meta: the spec inferred at the first ingest (a dict)
TABLE_META = "table"  # catalog meta: a tabular dataset's columns (TableSpec.to_dict())
LEGACY_SIZE_META = "image_size"  # catalogs before [data.image]: [width, height], grayscale


def inferred_spec(meta: dict[str, Any]) -> ImageSpec | None:
    """The spec stored in the catalog's meta, if any (old catalogs: gray, their one size)."""
    if meta.get(IMAGE_META):
        return ImageSpec.from_dict(meta[IMAGE_META])
    legacy = meta.get(LEGACY_SIZE_META)
    if legacy:
        # Before [data.image] every dataset was grayscale strokes of one size (the digits);
        # the package's background was derived from the data's mean: dark.
        width, height = legacy
        return ImageSpec(1, (int(height), int(width)), "fit", "dark")
    return None


def resolve_image_spec(declared: ImageConfig | None, inferred: ImageSpec | None) -> ImageSpec:
    """Declared fields win; the inferred spec fills the rest. DataError when neither says."""
    if inferred is None:
        size = declared.spec_size if declared is not None else None
        if declared is None or declared.channels is None or size is None:
            raise DataError(
                "the data's image input is not known yet: ingest some data first (its size "
                "and channels are inferred), or declare [data.image] channels and size"
            )
        base = ImageSpec(declared.channels, size, declared.resize, "any")
    else:
        base = inferred
    if declared is None:
        return base
    background = base.background if declared.background == "auto" else declared.background
    return ImageSpec(
        channels=declared.channels if declared.channels is not None else base.channels,
        size=declared.spec_size or base.size,
        resize=declared.resize,
        background=background,
    )


def line_spec(
    inferred: ImageSpec,
    notes: list[str],
    infos: Iterable[ImageInfo],
    declared: ImageConfig | None,
) -> tuple[ImageSpec, list[str]]:
    """The inferred spec of line images (a ctc task, or a declared variable width): each
    line keeps its aspect ratio at one height, the declared one, else the images' median
    height (to a multiple of 4); channels and background as inferred."""
    heights = [i.height for i in infos]
    if declared is not None and declared.size is not None:
        height = declared.size[0]
        note = f"size [{height}, variable]: lines scaled to the declared height {height}"
    else:
        height = max(4, 4 * round(float(np.median(heights)) / 4))
        note = (
            f"size [{height}, variable]: lines scaled to the median height of {len(heights)} "
            f"images, keeping their aspect ratio"
        )
    spec = ImageSpec(inferred.channels, (height, VARIABLE_WIDTH), "fit", inferred.background)
    return spec, [note, *[n for n in notes if not n.startswith("size")]]
