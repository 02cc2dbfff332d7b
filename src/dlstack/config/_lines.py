"""``[data.lines]``: how the ``builtin:lines`` source composes handwritten number lines.

Every field of the composer's ``LineParams`` (``dlstack.data``) is a key here with the
same default, plus how many lines each split gets and the composer's seed. The types are
checked when dlstack.toml is read; the ranges (a height of 16 to 256, min_chars <=
max_chars...) by ``LineParams`` when the lines are composed, in one place, with a message
that names the key.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from dlstack.config._base import Section

__all__ = [
    "DEFAULT_LINES_TEST",
    "DEFAULT_LINES_TRAIN",
    "DEFAULT_LINES_VAL",
    "LINES_ALPHABET",
    "LinesConfig",
]

# Lines per split composed by default; enough for a small CRNN to read digits (a model
# trained on fewer over-fits the glyphs' writers).
DEFAULT_LINES_TRAIN = 10_000
DEFAULT_LINES_VAL = 1_000
DEFAULT_LINES_TEST = 1_000
# The characters builtin:lines draws, in the order `dlstack init` declares them as
# [data] classes (tests pin it to dlstack.data's composer alphabet).
LINES_ALPHABET = "0123456789-/. "

_Count = Annotated[int, Field(ge=0, le=1_000_000)]


class LinesConfig(Section):
    """``[data.lines]``; the defaults are the composer's (``LineParams``)."""

    train: _Count = DEFAULT_LINES_TRAIN  # lines drawn from the train split's glyphs
    val: _Count = DEFAULT_LINES_VAL
    test: _Count = DEFAULT_LINES_TEST
    seed: int = 0  # the composer's seed (the glyphs' splits follow [data] split and seed)
    height: int = 32  # pixels of a composed line
    min_chars: int = 1
    max_chars: int = 12
    glyph_scale: tuple[float, float] = (0.6, 0.85)  # a glyph's ink height / line height
    spacing: tuple[float, float] = (-0.08, 0.12)  # gap / line height; negative overlaps
    jitter: float = 0.06  # vertical offset of a glyph / line height
    slant: float = 0.25  # largest horizontal shear, either way
    stroke: tuple[float, float, float] = (0.2, 0.6, 0.2)  # P(thinner, same, thicker)
    noise: float = 8.0  # std of the pixel noise on the 0..255 scale
    kinds: dict[str, float] = Field(
        default_factory=lambda: {
            "number": 3.0,
            "date": 2.0,
            "amount": 2.0,
            "code": 2.0,
            "phone": 1.0,
        }
    )

    @property
    def counts(self) -> dict[str, int]:
        """Lines per split."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def params(self) -> dict[str, object]:
        """The composer's fields (``LineParams(**params())``), without counts and seed."""
        return self.model_dump(exclude={"train", "val", "test", "seed"})
