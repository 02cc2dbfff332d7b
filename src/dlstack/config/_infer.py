"""What `dlstack init` reads from a source to write ``[data.image]`` for the user to check.

The same inference ingest makes (``dlstack.inputs.infer_image_spec``), on a sample of the
source's images, so the project states its input from the start instead of finding out
at the first ingest.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from dlstack.errors import ConfigError, DataError
from dlstack.inputs import (
    IMAGE_SUFFIXES,
    MANIFEST_SUFFIXES,
    VARIABLE_WIDTH,
    ImageSpec,
    TableSpec,
    infer_columns,
    infer_image_spec,
    inspect_image,
    is_hf_source,
    read_rows,
)

__all__ = [
    "BUILTIN_IMAGES",
    "MAX_CLASS_CODES",
    "SAMPLE",
    "TableGuess",
    "infer_task",
    "source_image_spec",
    "source_table",
]

TABLE_STEPS = 1200  # optimizer steps a small table trains for by default
MAX_TABLE_EPOCHS = 300
# Whole numbers in a target are class codes (digits 0-9, a rating 1-5) up to this many
# distinct values; more are a measure or a count (diabetes progression: 214 values).
MAX_CLASS_CODES = 20
SAMPLE = 2000  # images read: enough for the majority size, seconds on a large folder
BUILTIN_IMAGES = {
    "builtin:digits": ImageSpec(1, (28, 28), "fit", "dark"),
    "builtin:digits8": ImageSpec(1, (8, 8), "fit", "dark"),
    "builtin:lines": ImageSpec(1, (32, VARIABLE_WIDTH), "fit", "dark"),
}


def source_image_spec(source: str) -> tuple[ImageSpec | None, list[str]]:
    """(the spec, one line per inference) for a built-in or a folder; (None, []) when the
    source holds no readable image (ingest will say why)."""
    if source in BUILTIN_IMAGES:
        return BUILTIN_IMAGES[source], []
    root = Path(source).expanduser()
    if root.is_file() and root.suffix.lower() in MANIFEST_SUFFIXES:
        files = _manifest_images(root)
    elif root.is_dir():
        files = sorted(
            p
            for p in root.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.is_symlink()
        )
    else:
        return None, []
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


def _manifest_images(manifest: Path) -> list[Path]:
    """The image files a manifest's ``path`` column names (relative to it), in its order."""
    root = manifest.parent.resolve()
    paths = [str(row.get("path") or "").strip() for row in read_rows(manifest)]
    files = [(root / p).resolve() for p in paths if p]
    return [f for f in files if f.is_relative_to(root) and f.is_file()]


@dataclass(frozen=True)
class TableGuess:
    """What `dlstack init` writes for a table: its target, features and their kinds."""

    target: str
    table: TableSpec
    notes: list[str]
    rows: int = 0
    task: str = "classification"  # what the target column looks like (infer_task)
    images: bool = False  # each row names an image too (a 'path' column): two inputs

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
    """For a manifest: the target (``label``, else the last column), every other column
    but ``split`` (and ``path``) a feature, numeric when every value is a number. With a
    ``path`` column the rows name an image each too (``images``: a model of two inputs);
    None for a manifest of images alone (no feature columns)."""
    rows = read_rows(Path(source).expanduser())
    columns = list(dict.fromkeys(k for row in rows for k in row))
    images = "path" in columns
    if not rows:
        return None
    if target not in columns:
        target = [c for c in columns if c != "path"][-1] if columns != ["path"] else "label"
    features = [c for c in columns if c not in (target, "split", "path")]
    if images and not features:
        return None
    if not features:
        raise ConfigError(f"{source} has no feature columns besides the target {target!r}")
    table, notes = infer_columns(rows, features)
    values = {str(row.get(target)) for row in rows if row.get(target) not in (None, "")}
    task, what = infer_task(values)
    notes = [f"target {target!r}: {what}", *notes]
    numeric = [c.name for c in table.columns if c.kind == "numeric"]
    notes.append(f"{len(numeric)} numeric and {len(features) - len(numeric)} categorical features")
    if images:
        notes.append("and the 'path' column's images: two inputs (image, features);")
        notes.append("a column left out of features stays metadata (for slices)")
    return TableGuess(target, table, notes, len(rows), task, images)


def infer_task(values: set[str]) -> tuple[str, str]:
    """(task, what the target looks like) from a target column's distinct values: numbers
    with fractions (a measured quantity) are a regression; lists (``cat|dog``, a JSON
    list) a multilabel; anything else classes (words, or up to MAX_CLASS_CODES whole
    numbers as class codes: declare ``task = "regression"`` for a small count)."""
    from dlstack.targets import DEFAULT_SEPARATOR

    try:
        numbers = [float(v) for v in values]
    except ValueError:
        numbers = []
    fractions = any(not n.is_integer() for n in numbers)
    if numbers and (fractions or len(values) > MAX_CLASS_CODES):
        what = "numbers" if fractions else f"whole numbers, more than {MAX_CLASS_CODES} distinct"
        return "regression", f"{what} ({len(values)} distinct values): regression"
    if any(v.strip().startswith("[") or DEFAULT_SEPARATOR in v for v in values):
        names: set[str] = set()
        for v in values:
            text = v.strip()
            if text.startswith("["):
                try:
                    names.update(str(n) for n in json.loads(text))
                    continue
                except ValueError:
                    pass
            names.update(n.strip() for n in text.split(DEFAULT_SEPARATOR) if n.strip())
        return "multilabel", f"sets of labels ({len(names)} classes): multilabel"
    return "classification", f"{len(values)} classes"
