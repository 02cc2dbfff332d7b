"""JSON from clients, parsed with bounds: depth, number length, and valid UTF-8.

Python's json module recurses once per nesting level (1,000 levels: RecursionError) and
refuses integer literals of more than 4,300 digits with a ValueError; both used to end in
a 500. :func:`check_json` finds them first, with one vectorized pass over the bytes (no
recursion, no Python loop per character), and :func:`parse_json` turns every failure into
a BadRequest that says what is wrong.

>>> json_shape(b'{"a": [[1, 2], "[[["]}')   # brackets inside strings do not count
(3, 1)
>>> parse_json(b"[" * 100 + b"]" * 100)
Traceback (most recent call last):
...
dlstack.web._errors.BadRequest: the JSON body nests 100 levels deep; at most 64 are accepted
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from dlstack.web._errors import BadRequest

__all__ = ["MAX_JSON_DEPTH", "MAX_NUMBER_DIGITS", "check_json", "json_shape", "parse_json"]

MAX_JSON_DEPTH = 64  # an OIP request is 4-5 deep (object, inputs, tensor, nested data rows)
MAX_NUMBER_DIGITS = 1000  # far above any float32 or int64 literal, far below Python's 4,300

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1
_DIGIT = np.zeros(256, bool)
_DIGIT[list(b"0123456789")] = True


def json_shape(data: bytes) -> tuple[int, int]:
    """(deepest nesting, longest run of digits) outside strings, without parsing."""
    b = np.frombuffer(data, np.uint8)
    if b.size == 0:
        return 0, 0
    index = np.arange(b.size)
    # A quote is escaped when an odd number of backslashes stands right before it.
    not_backslash = np.where(b != _BACKSLASH, index, -1)
    last_other = np.maximum.accumulate(not_backslash)  # last non-backslash at or before i
    quotes = np.flatnonzero(b == _QUOTE)
    run = quotes - 1 - last_other[np.maximum(quotes - 1, 0)]
    run[quotes == 0] = 0
    real = quotes[run % 2 == 0]
    # Inside a string: after an odd number of real quotes (the closing quote counts in).
    toggles = np.zeros(b.size, np.int32)
    toggles[real] = 1
    inside = (np.cumsum(toggles) % 2 == 1) | (toggles == 1)
    step = np.where(inside, 0, _OPEN[b]).astype(np.int32)
    depth = int(np.cumsum(step).max(initial=0))
    digits = _DIGIT[b] & ~inside
    longest = 0
    if digits.any():
        # lengths of runs of True: positions where a run starts and ends
        edges = np.diff(np.concatenate(([0], digits.astype(np.int8), [0])))
        longest = int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
    return depth, longest


def check_json(
    data: bytes,
    *,
    what: str = "the JSON body",
    max_depth: int = MAX_JSON_DEPTH,
    max_digits: int = MAX_NUMBER_DIGITS,
) -> None:
    """BadRequest when ``data`` nests deeper than ``max_depth`` or holds a number longer
    than ``max_digits`` digits."""
    depth, longest = json_shape(data)
    if depth > max_depth:
        raise BadRequest(f"{what} nests {depth} levels deep; at most {max_depth} are accepted")
    if longest > max_digits:
        raise BadRequest(
            f"{what} holds a number of {longest:,} digits; at most {max_digits:,} are accepted"
        )


def parse_json(data: bytes, *, what: str = "the JSON body") -> Any:
    """``json.loads`` after :func:`check_json`; every failure is a BadRequest."""
    check_json(data, what=what)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"{what} is not valid JSON ({e})") from None
    except (RecursionError, ValueError) as e:  # bounds json itself enforces, as a 400
        raise BadRequest(f"{what} cannot be read ({e})") from None
