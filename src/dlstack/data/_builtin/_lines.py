"""Handwritten number lines composed from real digit glyphs (the ``lines`` dataset).

Each line is a string over :data:`ALPHABET` — a plain number, a date, an amount, a code or
a phone-like group of numbers — drawn left to right from real 28x28 digit glyphs, with
separators ("-", "/", ".", " ") drawn as synthetic pen strokes. Every glyph is cropped to
its ink, scaled, jittered and placed with random spacing (negative spacing overlaps it with
its neighbour); the whole line is then slanted, its strokes thickened or thinned, and noise
added.

No leakage: a line of split S is drawn only from the glyphs of split S, and the glyphs'
splits are the ones the ``digits`` dataset gives them (the same seeded content hash), so a
test line never shows a glyph any train line (or the digits model's train split) showed.

>>> glyphs = np.zeros((10, 28, 28), np.uint8); glyphs[:, 8:20, 10:18] = 255
>>> pools = {"train": np.arange(10)}  # one glyph of each digit 0..9
>>> lines = compose_lines(glyphs, np.arange(10), pools, {"train": 2}, LineParams(), seed=0)
>>> [(line.split, line.image.shape[0], len(line.text) <= 12) for line in lines]
[('train', 32, True), ('train', 32, True)]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from dlstack.errors import ConfigError

__all__ = ["ALPHABET", "KINDS", "Line", "LineParams", "compose_lines", "iter_lines", "line_text"]

ALPHABET = "0123456789-/. "
KINDS = ("number", "date", "amount", "code", "phone")


@dataclass(frozen=True)
class LineParams:
    """How lines are generated; every field is a ``[data.lines]`` key of dlstack.toml.

    Sizes are in pixels of the output line, whose height is ``height``; a glyph's ink is
    scaled to ``glyph_scale`` (a range) of that height, and ``spacing`` (a range, as a
    fraction of the height; negative overlaps) separates neighbours.
    """

    height: int = 32
    min_chars: int = 1
    max_chars: int = 12
    glyph_scale: tuple[float, float] = (0.6, 0.85)
    spacing: tuple[float, float] = (-0.08, 0.12)
    jitter: float = 0.06  # vertical offset of a glyph, as a fraction of the height
    slant: float = 0.25  # largest horizontal shear (either way)
    stroke: tuple[float, float, float] = (0.2, 0.6, 0.2)  # P(thinner, same, thicker)
    noise: float = 8.0  # std of the additive pixel noise, on the 0..255 scale
    kinds: Mapping[str, float] = field(
        default_factory=lambda: {"number": 3, "date": 2, "amount": 2, "code": 2, "phone": 1}
    )

    def __post_init__(self) -> None:
        def bad(key: str, value: object, allowed: str) -> ConfigError:
            return ConfigError(
                f"[data.lines] {key} = {value!r} is not allowed: it must be {allowed}; "
                "fix it in dlstack.toml"
            )

        if not 16 <= self.height <= 256:
            raise bad("height", self.height, "between 16 and 256 pixels")
        if not 1 <= self.min_chars <= self.max_chars <= 64:
            raise bad(
                "min_chars/max_chars",
                (self.min_chars, self.max_chars),
                "1 <= min_chars <= max_chars <= 64",
            )
        lo, hi = self.glyph_scale
        if not 0.2 <= lo <= hi <= 1.0:
            raise bad("glyph_scale", self.glyph_scale, "[low, high] with 0.2 <= low <= high <= 1")
        if not -0.5 <= self.spacing[0] <= self.spacing[1] <= 1.0:
            raise bad("spacing", self.spacing, "[low, high] with -0.5 <= low <= high <= 1")
        for key, value, top in (("jitter", self.jitter, 0.5), ("slant", self.slant, 1.0)):
            if not 0 <= value <= top:
                raise bad(key, value, f"between 0 and {top}")
        if not 0 <= self.noise <= 64:
            raise bad("noise", self.noise, "between 0 and 64 (pixel std on the 0..255 scale)")
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown or not any(w > 0 for w in self.kinds.values()):
            raise bad("kinds", dict(self.kinds), f"weights >= 0 for some of {', '.join(KINDS)}")
        if min(self.kinds.values()) < 0 or min(self.stroke) < 0 or sum(self.stroke) <= 0:
            raise bad("kinds/stroke", (dict(self.kinds), self.stroke), "non-negative weights")


@dataclass(frozen=True)
class Line:
    image: np.ndarray  # uint8 (height, width), dark background, light ink (like the glyphs)
    text: str
    split: str
    kind: str  # one of KINDS
    glyphs: tuple[int, ...]  # indices of the digit glyphs drawn, in order (leakage checks)


def line_text(rng: np.random.Generator, params: LineParams) -> tuple[str, str]:
    """A random (kind, text) whose length lies in [min_chars, max_chars]."""
    kinds = [k for k in KINDS if params.kinds.get(k, 0) > 0]
    weights = np.array([params.kinds[k] for k in kinds], dtype=float)
    for _ in range(1000):
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        text = _TEXT[kind](rng, params.max_chars)
        if params.min_chars <= len(text) <= params.max_chars:
            return kind, text
    # Only lengths no kind produces remain (e.g. min_chars=11, max_chars=11 with dates only):
    # a plain number of a length in range always fits.
    n = int(rng.integers(params.min_chars, params.max_chars + 1))
    return "number", _digits(rng, n)


def _digits(rng: np.random.Generator, n: int) -> str:
    first = str(rng.integers(1, 10)) if n > 1 else str(rng.integers(0, 10))
    return first + "".join(str(d) for d in rng.integers(0, 10, size=n - 1))


def _number(rng: np.random.Generator, max_chars: int) -> str:
    return _digits(rng, int(rng.integers(1, max_chars + 1)))


def _date(rng: np.random.Generator, max_chars: int) -> str:
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1950, 2040))
    forms = (f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y % 100:02d}")
    return forms[int(rng.integers(len(forms)))]


def _amount(rng: np.random.Generator, max_chars: int) -> str:
    whole = _digits(rng, int(rng.integers(1, max(2, max_chars - 3))))
    if len(whole) > 3 and rng.random() < 0.5:  # thousands grouped with spaces: 12 500.00
        head, tail = whole[: len(whole) % 3], whole[len(whole) % 3 :]
        groups = [head] if head else []
        groups += [tail[i : i + 3] for i in range(0, len(tail), 3)]
        whole = " ".join(groups)
    return f"{whole}.{rng.integers(0, 100):02d}"


def _code(rng: np.random.Generator, max_chars: int) -> str:
    parts = [_digits(rng, int(rng.integers(1, 5))) for _ in range(int(rng.integers(2, 4)))]
    return "-".join(parts)


def _phone(rng: np.random.Generator, max_chars: int) -> str:
    sizes = ((3, 4), (3, 3, 4), (2, 2, 2, 2))[int(rng.integers(3))]
    return " ".join("".join(str(d) for d in rng.integers(0, 10, size=s)) for s in sizes)


_TEXT = {"number": _number, "date": _date, "amount": _amount, "code": _code, "phone": _phone}


def compose_lines(
    glyphs: np.ndarray,
    labels: np.ndarray,
    pools: Mapping[str, np.ndarray],
    counts: Mapping[str, int],
    params: LineParams,
    seed: int = 0,
) -> list[Line]:
    """``counts[split]`` lines per split, each drawn only from ``pools[split]``.

    ``glyphs`` are uint8 (N, H, W) digits (light ink on dark), ``labels`` their digit
    (0..9), ``pools[split]`` the indices of the glyphs of that split. Deterministic in
    ``seed``: the same arguments give the same lines, byte for byte.
    """
    return list(iter_lines(glyphs, labels, pools, counts, params, seed))


def iter_lines(
    glyphs: np.ndarray,
    labels: np.ndarray,
    pools: Mapping[str, np.ndarray],
    counts: Mapping[str, int],
    params: LineParams,
    seed: int = 0,
) -> Iterator[Line]:
    """:func:`compose_lines` one line at a time (a progress bar can follow it)."""
    for s, split in enumerate(sorted(counts)):
        n = int(counts[split])
        if n <= 0:
            continue
        pool = np.asarray(pools.get(split, ()), dtype=np.int64)
        by_digit = {d: pool[labels[pool] == d] for d in range(10)}
        missing = [str(d) for d, idx in by_digit.items() if len(idx) == 0]
        if missing:
            raise ConfigError(
                f"the {split} split has no glyph of digit(s) {', '.join(missing)}, so its "
                f"{n} lines cannot be drawn; give the split a larger share in [data] split"
            )
        rng = np.random.default_rng([seed, s])
        for _ in range(n):
            kind, text = line_text(rng, params)
            image, used = _draw(text, glyphs, by_digit, rng, params)
            yield Line(image, text, split, kind, used)


def _draw(
    text: str,
    glyphs: np.ndarray,
    by_digit: Mapping[int, np.ndarray],
    rng: np.random.Generator,
    params: LineParams,
) -> tuple[np.ndarray, tuple[int, ...]]:
    h = params.height
    pieces: list[np.ndarray] = []
    used: list[int] = []
    for ch in text:
        if ch.isdigit():
            idx = int(rng.choice(by_digit[int(ch)]))
            used.append(idx)
            pieces.append(_glyph(glyphs[idx], rng, params))
        else:
            pieces.append(_separator(ch, rng, h))
    gaps = [round(rng.uniform(*params.spacing) * h) for _ in pieces]
    for i in range(1, len(text)):
        if not (text[i].isdigit() and text[i - 1].isdigit()):
            # A digit may overlap its neighbour; a separator stays visible (a dot under a
            # digit, or a space closed up, would make the line's label wrong).
            gaps[i] = max(gaps[i], 1)
    margin = h // 4
    width = max(1, 2 * margin + sum(p.shape[1] for p in pieces) + sum(gaps[1:]))
    canvas = np.zeros((h, width), dtype=np.float32)
    x = margin
    for i, piece in enumerate(pieces):
        x += gaps[i] if i else 0
        x = max(0, x)
        ph, pw = piece.shape
        top = (h - ph) // 2 + round(rng.uniform(-params.jitter, params.jitter) * h)
        top = min(max(0, top), h - ph)
        region = canvas[top : top + ph, x : x + pw]
        # Overlapping strokes keep the darker-on-paper (brighter here) of the two.
        np.maximum(region, piece[:, : region.shape[1]], out=region)
        x += pw
    return _finish(canvas, rng, params), tuple(used)


def _glyph(glyph: np.ndarray, rng: np.random.Generator, params: LineParams) -> np.ndarray:
    rows = np.flatnonzero(glyph.max(axis=1) > 32)
    cols = np.flatnonzero(glyph.max(axis=0) > 32)
    ink = glyph if len(rows) == 0 else glyph[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    target_h = max(4, round(rng.uniform(*params.glyph_scale) * params.height))
    target_w = max(2, round(ink.shape[1] * target_h / ink.shape[0]))
    resized = Image.fromarray(ink).resize((target_w, target_h), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def _separator(ch: str, rng: np.random.Generator, h: int) -> np.ndarray:
    """A pen stroke for a separator: a dash, a slash, a dot, or blank space."""
    w = {"-": 0.45, "/": 0.6, ".": 0.2, " ": 0.35}[ch] * h * rng.uniform(0.8, 1.2)
    w = max(3, round(w))
    image = Image.new("L", (w, h), 0)
    if ch != " ":
        draw = ImageDraw.Draw(image)
        pen = max(2, round(h * rng.uniform(0.07, 0.11)))
        mid = h / 2 + rng.uniform(-0.05, 0.05) * h
        if ch == "-":
            y0, y1 = mid + rng.uniform(-1, 1), mid + rng.uniform(-1, 1)
            draw.line([(1, y0), (w - 2, y1)], fill=255, width=pen)
        elif ch == "/":
            # Wide and leaning: a slash must not read as a "1".
            draw.line([(1, h * 0.85), (w - 2, h * 0.15)], fill=255, width=pen)
        else:
            r, cy = pen * 0.7, h * 0.72
            draw.ellipse([w / 2 - r, cy - r, w / 2 + r, cy + r], fill=255)
    return np.asarray(image, dtype=np.float32)


def _finish(canvas: np.ndarray, rng: np.random.Generator, params: LineParams) -> np.ndarray:
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    shear = rng.uniform(-params.slant, params.slant)
    if shear:
        h = image.height
        # x_in = x_out + shear * (y - h/2): the top leans right for a positive shear.
        image = image.transform(
            image.size,
            Image.Transform.AFFINE,
            (1, shear, -shear * h / 2, 0, 1, 0),
            resample=Image.Resampling.BILINEAR,
        )
    stroke = int(rng.choice(3, p=np.asarray(params.stroke) / sum(params.stroke)))
    if stroke == 0:
        image = image.filter(ImageFilter.MinFilter(3))
    elif stroke == 2:
        image = image.filter(ImageFilter.MaxFilter(3))
    out = np.asarray(image, dtype=np.float32)
    if params.noise > 0:
        out = out + rng.normal(0.0, params.noise, size=out.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
