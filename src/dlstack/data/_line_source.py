"""The ``builtin:lines`` source: number lines composed from the real ``digits`` glyphs.

The glyphs' splits are the ones ``builtin:digits`` gets at ingest (``assign_splits`` over
the same PNG bytes' sha256, stratified by digit, with ``[data] split`` and ``seed``), and
a line of split S is drawn only from split S's glyphs; the line keeps that split (it is
never re-assigned by its own hash), so no test line shows a glyph a train line showed.
Everything is deterministic in ``[data.lines]`` and ``[data] split``/``seed``: the same
settings give the same PNG bytes, hence the same objects, and re-ingesting adds nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack._progress import track
from dlstack.data._splits import SPLITS, assign_splits
from dlstack.data._store import sha256

if TYPE_CHECKING:
    from dlstack.config import LinesConfig

__all__ = ["LINES_META", "LINES_SOURCE", "ComposedLine", "compose_source", "digit_pools", "png"]

LINES_SOURCE = "builtin:lines"
LINES_META = "lines"  # catalog meta: the settings the working set's lines were composed with


@dataclass(frozen=True)
class ComposedLine:
    name: str
    data: bytes  # the line's PNG
    text: str
    split: str
    meta: dict[str, Any]  # kind, and the digit glyphs drawn (indices into builtin:digits)


def png(pixels: np.ndarray) -> bytes:
    """Fixed encoder settings: the same pixels always give the same bytes (and key)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def digit_pools(
    labels: np.ndarray, keys: list[str], split: tuple[float, float, float], seed: int
) -> dict[str, np.ndarray]:
    """The glyph indices of each split, as ingesting ``builtin:digits`` assigns them: one
    split per distinct object (the same bytes twice share it), stratified by digit."""
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    unique = list(first)
    names = assign_splits(unique, [str(labels[first[k]]) for k in unique], split, seed)
    split_of = dict(zip(unique, names, strict=True))
    per_glyph = np.array([split_of[k] for k in keys])
    return {s: np.flatnonzero(per_glyph == s) for s in SPLITS}


def compose_source(
    lines: LinesConfig, split: tuple[float, float, float], seed: int, progress: bool
) -> tuple[list[ComposedLine], dict[str, Any]]:
    """The composed lines and the settings they came from (recorded with the version).

    ``ConfigError`` naming the ``[data.lines]`` key for a setting the composer refuses."""
    from dlstack.data._builtin import load_builtin
    from dlstack.data._builtin._lines import LineParams, iter_lines

    params = LineParams(**lines.params())  # type: ignore[arg-type]
    raw = load_builtin("digits")
    keys = [sha256(png(im)) for im in raw.images]
    pools = digit_pools(raw.labels, keys, split, seed)
    counts = lines.counts
    composed = []
    stream = iter_lines(raw.images, raw.labels, pools, counts, params, lines.seed)
    total = sum(counts.values())
    for i, line in enumerate(
        track(stream, f"composing {LINES_SOURCE}", total=total, enabled=progress and total > 0)
    ):
        composed.append(
            ComposedLine(
                f"{LINES_SOURCE}#{i}",
                png(line.image),
                line.text,
                line.split,
                {"kind": line.kind, "glyphs": list(line.glyphs)},
            )
        )
    record = {
        "source": LINES_SOURCE,
        "counts": counts,
        "seed": lines.seed,
        "params": lines.params(),
        "glyph_split": list(split),
        "glyph_seed": seed,
    }
    return composed, record
