"""What `dlstack init` reads from a source to write ``[data.image]`` for the user to check.

The same inference ingest makes (``dlstack.inputs.infer_image_spec``), on a sample of the
source's images, so the project states its input from the start instead of finding out
at the first ingest.
"""

from __future__ import annotations

from pathlib import Path

from dlstack.errors import DataError
from dlstack.inputs import IMAGE_SUFFIXES, ImageSpec, infer_image_spec, inspect_image

__all__ = ["BUILTIN_IMAGES", "SAMPLE", "source_image_spec"]

SAMPLE = 2000  # images read: enough for the majority size, seconds on a large folder
BUILTIN_IMAGES = {
    "builtin:digits": ImageSpec(1, (28, 28), "fit", "dark"),
    "builtin:digits8": ImageSpec(1, (8, 8), "fit", "dark"),
}


def source_image_spec(source: str) -> tuple[ImageSpec | None, list[str]]:
    """(the spec, one line per inference) for a built-in or a folder; (None, []) when the
    source holds no readable image (ingest will say why)."""
    if source in BUILTIN_IMAGES:
        return BUILTIN_IMAGES[source], []
    root = Path(source).expanduser()
    if not root.is_dir():
        return None, []
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.is_symlink()
    )
    infos = []
    step = max(1, len(files) // SAMPLE)  # evenly over the classes' folders
    for path in files[::step][:SAMPLE]:
        try:
            infos.append(inspect_image(path.read_bytes()))
        except (OSError, DataError):
            continue
    if not infos:
        return None, []
    spec, lines = infer_image_spec(infos)
    return spec, lines
