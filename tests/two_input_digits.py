"""A two-input dataset where neither input alone is enough: a digit image and a table row.

Each example is a built-in digit's image (a PNG named in the manifest's ``path`` column)
and two feature columns: ``shift`` (0 or 5, drawn at random) and ``noise`` (a normal
draw that carries nothing). The label is ``(digit + shift) mod 10``: the image alone
tells the digit but not the shift (at best about half right), the table alone the shift
but not the digit (about one in ten), both together the label (as well as the digit can
be read).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from dlstack.data import load_builtin

SHIFTS = (0, 5)
COLUMNS = ["path", "shift", "noise", "label"]


def write_two_input_digits(
    folder: Path,
    n: int,
    *,
    source: str = "builtin:digits8",
    seed: int = 0,
    split: tuple[float, float, float] | None = None,
) -> Path:
    """``folder/manifest.csv`` of ``n`` examples and their PNGs in ``folder/images``; with
    ``split`` (train, val, test fractions) a ``split`` column too, so that projects made
    of its columns (the image alone, the row alone) are tested on the same examples."""
    raw = load_builtin(source)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(raw.labels), size=n, replace=n > len(raw.labels))
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, k in enumerate(pick):
        name = f"images/{i:05d}.png"
        Image.fromarray(raw.images[k]).save(folder / name)
        digit = int(raw.classes[raw.labels[k]])
        shift = int(rng.choice(SHIFTS))
        noise = round(float(rng.normal()), 6)  # distinct rows: no two dedupe into one
        rows.append([name, shift, noise, str((digit + shift) % 10)])
    header = list(COLUMNS)
    if split is not None:
        header.append("split")
        cut = np.cumsum(split) * n
        for i, row in enumerate(rows):
            row.append("train" if i < cut[0] else "val" if i < cut[1] else "test")
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return manifest
