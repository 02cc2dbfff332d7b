"""The `lines` composer: real glyphs, valid strings, no glyph shared across splits."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dlstack.data._builtin import load_builtin
from dlstack.data._builtin._lines import ALPHABET, KINDS, LineParams, compose_lines
from dlstack.data._splits import assign_splits
from dlstack.errors import ConfigError


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    raw = load_builtin("digits8")
    ids = [hashlib.sha256(im.tobytes()).hexdigest() for im in raw.images]
    splits = np.array(assign_splits(ids, raw.labels.tolist(), (0.7, 0.15, 0.15), seed=0))
    pools = {s: np.flatnonzero(splits == s) for s in ("train", "val", "test")}
    return raw.images, raw.labels, pools


def test_lines_use_only_their_own_splits_glyphs(digits) -> None:
    glyphs, labels, pools = digits
    lines = compose_lines(glyphs, labels, pools, {"train": 60, "val": 30, "test": 30}, LineParams())
    used = {s: {g for line in lines if line.split == s for g in line.glyphs} for s in pools}
    for split, indices in used.items():
        assert indices, f"no {split} line drew a glyph"
        assert indices <= set(pools[split].tolist())
    assert not used["train"] & used["test"] and not used["train"] & used["val"]
    # Each digit of a line's text is one glyph of that digit, drawn in order.
    for line in lines:
        digits_in_text = [int(c) for c in line.text if c.isdigit()]
        assert [int(labels[g]) for g in line.glyphs] == digits_in_text


def test_lines_are_valid_strings_and_images(digits) -> None:
    glyphs, labels, pools = digits
    params = LineParams(height=32, min_chars=1, max_chars=12)
    lines = compose_lines(glyphs, labels, pools, {"train": 300}, params, seed=3)
    assert {line.kind for line in lines} == set(KINDS)
    lengths = [len(line.text) for line in lines]
    assert min(lengths) >= 1 and max(lengths) == 12
    for line in lines:
        assert set(line.text) <= set(ALPHABET)
        assert line.text == line.text.strip() and "  " not in line.text
        assert line.image.dtype == np.uint8 and line.image.shape[0] == 32
        assert line.image.max() > 128  # ink was drawn
    # Longer text makes a wider line.
    widths = [line.image.shape[1] for line in lines]
    assert np.corrcoef(lengths, widths)[0, 1] > 0.8


def test_lines_are_deterministic_in_the_seed(digits) -> None:
    glyphs, labels, pools = digits
    a = compose_lines(glyphs, labels, pools, {"train": 5, "test": 5}, LineParams(), seed=7)
    b = compose_lines(glyphs, labels, pools, {"train": 5, "test": 5}, LineParams(), seed=7)
    c = compose_lines(glyphs, labels, pools, {"train": 5, "test": 5}, LineParams(), seed=8)
    assert [(x.text, x.image.tobytes()) for x in a] == [(x.text, x.image.tobytes()) for x in b]
    assert [x.text for x in a] != [x.text for x in c]


def test_line_lengths_follow_the_params(digits) -> None:
    glyphs, labels, pools = digits
    params = LineParams(min_chars=10, max_chars=10, kinds={"date": 1})
    lines = compose_lines(glyphs, labels, pools, {"train": 20}, params)
    assert all(len(line.text) == 10 for line in lines)
    assert all(line.kind == "date" for line in lines)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"height": 8}, "height"),
        ({"min_chars": 5, "max_chars": 2}, "min_chars/max_chars"),
        ({"glyph_scale": (0.9, 0.5)}, "glyph_scale"),
        ({"kinds": {"poem": 1}}, "kinds"),
        ({"kinds": {"date": 0}}, "kinds"),
    ],
)
def test_bad_params_name_the_key(kwargs, key) -> None:
    with pytest.raises(ConfigError, match=rf"\[data.lines\] {key} = .* fix it in dlstack.toml"):
        LineParams(**kwargs)


def test_a_split_without_some_digit_is_refused(digits) -> None:
    glyphs, labels, pools = digits
    only_ones = {"train": pools["train"][labels[pools["train"]] == 1]}
    with pytest.raises(ConfigError, match=r"train split has no glyph of digit\(s\) 0, 2"):
        compose_lines(glyphs, labels, only_ones, {"train": 3}, LineParams())
