"""A synthetic color image set where only the color decides the class.

Three classes of PNGs of mixed sizes, each a random shape (circle, square, triangle) of a
random size and place on a random gray background. The three class colors have the same
luminance (PIL's L = 0.299 R + 0.587 G + 0.114 B) and every image scales its color by a
random brightness, so a grayscale pipeline sees the same distribution for every class:
it cannot beat chance by much; a color one reads the hue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# Hues of equal luminance (L ~ 118): red-magenta, green, blue-cyan.
COLORS = {"red": (240, 55, 120), "green": (40, 170, 60), "blue": (70, 115, 255)}
SHAPES = ("circle", "square", "triangle")


def luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def draw(color: str, rng: np.random.Generator) -> Image.Image:
    w, h = (int(v) for v in rng.integers(24, 65, size=2))
    background = int(rng.integers(0, 256))
    image = Image.new("RGB", (w, h), (background,) * 3)
    scale = rng.uniform(0.55, 1.0)
    fill = tuple(int(c * scale) for c in COLORS[color])
    side = int(min(w, h) * rng.uniform(0.5, 0.8))
    x0 = int(rng.integers(0, w - side + 1))
    y0 = int(rng.integers(0, h - side + 1))
    box = (x0, y0, x0 + side, y0 + side)
    pen = ImageDraw.Draw(image)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    if shape == "circle":
        pen.ellipse(box, fill=fill)
    elif shape == "square":
        pen.rectangle(box, fill=fill)
    else:
        pen.polygon([(x0, y0 + side), (x0 + side, y0 + side), (x0 + side // 2, y0)], fill=fill)
    return image


def write_color_shapes(root: Path, per_class: int = 40, seed: int = 0) -> Path:
    """``root/<color>/<i>.png``, ``per_class`` images of each color; returns ``root``."""
    rng = np.random.default_rng(seed)
    for color in COLORS:
        folder = root / color
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw(color, rng).save(folder / f"{i:03d}.png")
    return root
