"""What `dlstack init` reads from a source to write ``[data.image]`` for the user to check.

The same inference ingest makes (``dlstack.inputs.infer_image_spec``), on a sample of the
source's images, so the project states its input from the start instead of finding out
at the first ingest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from dlstack.errors import ConfigError, DataError
from dlstack.inputs import (
    IMAGE_SUFFIXES,
    MANIFEST_SUFFIXES,
    ImageSpec,
    TableSpec,
    infer_columns,
    infer_image_spec,
    inspect_image,
    is_hf_source,
    read_rows,
)

__all__ = ["BUILTIN_IMAGES", "SAMPLE", "TableGuess", "source_image_spec", "source_table"]

TABLE_STEPS = 1200  # optimizer steps a small table trains for by default
MAX_TABLE_EPOCHS = 300
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


@dataclass(frozen=True)
class TableGuess:
    """What `dlstack init` writes for a table: its target, features and their kinds."""

    target: str
    table: TableSpec
    notes: list[str]
    rows: int = 0

    @property
    def epochs(self) -> int:
        """Enough epochs for ~TABLE_STEPS optimizer steps at the default batch size: a
        table of a few hundred rows is a handful of steps per epoch, and 15 epochs of it
        under-fit (breast cancer: 0.86 test accuracy at 15 epochs, 0.98 at 150)."""
        from dlstack.config._train import DEFAULT_BATCH_SIZE, DEFAULT_MAX_EPOCHS

        steps = max(1, math.ceil(0.8 * self.rows / DEFAULT_BATCH_SIZE))
        return min(MAX_TABLE_EPOCHS, max(DEFAULT_MAX_EPOCHS, math.ceil(TABLE_STEPS / steps)))


def is_table_source(source: str) -> bool:
    """A manifest file (a Hugging Face export is read by ingest: not guessed here)."""
    path = Path(source).expanduser()
    suffix_ok = path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES
    return suffix_ok and not is_hf_source(source)


def source_table(source: str, target: str = "label") -> TableGuess | None:
    """For a manifest without a ``path`` column: the target (``label``, else the last
    column), every other column but ``split`` a feature, numeric when every value is a
    number. None for a manifest of images."""
    rows = read_rows(Path(source).expanduser())
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if not rows or "path" in columns:
        return None
    if target not in columns:
        target = columns[-1]
    features = [c for c in columns if c not in (target, "split")]
    if not features:
        raise ConfigError(f"{source} has no feature columns besides the target {target!r}")
    table, notes = infer_columns(rows, features)
    values = {str(row.get(target)) for row in rows if row.get(target) not in (None, "")}
    if _continuous(values):
        raise ConfigError(
            f"the target column {target!r} of {source} holds numbers with fractions "
            f"({len(values)} distinct values): that is regression, which dlstack does not "
            f"train yet (planned, with multilabel targets); for classification give the "
            f"target as class names or integer codes"
        )
    notes = [f"target {target!r}: {len(values)} classes", *notes]
    numeric = [c.name for c in table.columns if c.kind == "numeric"]
    notes.append(f"{len(numeric)} numeric and {len(features) - len(numeric)} categorical features")
    return TableGuess(target, table, notes, len(rows))


def _continuous(values: set[str]) -> bool:
    """Numbers that are not all whole: a measured quantity, not class codes."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return False
    return any(not n.is_integer() for n in numbers)
