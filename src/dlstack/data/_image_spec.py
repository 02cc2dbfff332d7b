"""The image spec a project's data is checked out with: what ``[data.image]`` declares,
the rest from what the first ingest inferred (kept in the catalog's meta)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack.errors import DataError
from dlstack.inputs import ImageSpec

if TYPE_CHECKING:
    from dlstack.config import ImageConfig

__all__ = ["IMAGE_META", "LEGACY_SIZE_META", "TABLE_META", "inferred_spec", "resolve_image_spec"]

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
        if declared is None or declared.channels is None or declared.size is None:
            raise DataError(
                "the data's image input is not known yet: ingest some data first (its size "
                "and channels are inferred), or declare [data.image] channels and size"
            )
        base = ImageSpec(declared.channels, declared.size, declared.resize, "any")
    else:
        base = inferred
    if declared is None:
        return base
    background = base.background if declared.background == "auto" else declared.background
    return ImageSpec(
        channels=declared.channels if declared.channels is not None else base.channels,
        size=tuple(declared.size) if declared.size is not None else base.size,  # type: ignore[arg-type]
        resize=declared.resize,
        background=background,
    )
