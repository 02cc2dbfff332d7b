"""Line transcription targets (CTC): strings <-> codes, and decoding a model's frames.

A line's stored label is its text. A model reading lines outputs, for each of T frames
along the line, one score per symbol: index 0 is the CTC *blank*, index i >= 1 the i-th
character of the alphabet (``Snapshot.classes``). Targets are the characters' codes
(1-based), padded with 0 to the longest line (:func:`ctc_codes`).

Decoding (numpy, torch-free: serving uses it) turns frame probabilities (T, K+1) into
text: :func:`greedy_decode` takes the best symbol per frame, merges repeats and drops
blanks; :func:`beam_decode` is CTC prefix beam search, which sums the probability of every
alignment of a prefix and can find a likelier text than the best single path.

>>> probs = np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.2, 0.1, 0.7]])
>>> greedy_decode(probs, "ab")
('ab', (0.8, 0.7))
>>> beam_decode(probs, "ab")[0]
'ab'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dlstack.errors import DataError
from dlstack.targets._answer import Answer

__all__ = [
    "BLANK",
    "CTC_DECODERS",
    "beam_decode",
    "ctc_codes",
    "ctc_text",
    "decide_ctc",
    "greedy_decode",
    "line_frames",
    "softmax",
]

BLANK = 0  # the CTC blank's index among a model's output symbols
CTC_DECODERS = ("greedy", "beam")
DEFAULT_BEAM_WIDTH = 8


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Probabilities along ``axis``, float32, stable for any logit."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def ctc_codes(labels: Sequence[str], alphabet: Sequence[str]) -> np.ndarray:
    """Texts -> int64 (N, L) codes, 1 + the character's index in ``alphabet``, 0-padded
    to the longest text (L >= 1). DataError for a character outside the alphabet.

    >>> ctc_codes(["12", "3"], "0123").tolist()
    [[2, 3], [4, 0]]
    """
    index = {ch: i + 1 for i, ch in enumerate(alphabet)}
    longest = max((len(t) for t in labels), default=1)
    out = np.zeros((len(labels), max(1, longest)), dtype=np.int64)
    for row, text in enumerate(labels):
        for col, ch in enumerate(text):
            if ch not in index:
                raise DataError(
                    f"stored line {text!r} has the character {ch!r}, which is not in the "
                    f"alphabet of this data version ({''.join(alphabet)!r}); add it to "
                    f"[data] classes or fix the label"
                )
            out[row, col] = index[ch]
    return out


def ctc_text(codes: Sequence[int] | np.ndarray, alphabet: Sequence[str]) -> str:
    """The inverse of one row of :func:`ctc_codes` (0s are padding)."""
    return "".join(alphabet[int(c) - 1] for c in codes if int(c) > 0)


def greedy_decode(probs: np.ndarray, alphabet: Sequence[str]) -> tuple[str, tuple[float, ...]]:
    """Best path: the likeliest symbol per frame, repeats merged, blanks dropped. Each
    character's confidence is the highest probability over the frames it was read in."""
    p = np.asarray(probs, dtype=np.float64)
    best = p.argmax(axis=1)
    text: list[str] = []
    confidence: list[float] = []
    previous = BLANK
    for t, symbol in enumerate(best):
        symbol = int(symbol)
        if symbol != BLANK and symbol == previous:
            confidence[-1] = max(confidence[-1], float(p[t, symbol]))
        elif symbol != BLANK:
            text.append(alphabet[symbol - 1])
            confidence.append(float(p[t, symbol]))
        previous = symbol
    return "".join(text), tuple(round(c, 6) for c in confidence)


def beam_decode(
    probs: np.ndarray, alphabet: Sequence[str], beam_width: int = DEFAULT_BEAM_WIDTH
) -> tuple[str, tuple[float, ...]]:
    """CTC prefix beam search (Hannun et al. 2014) over frame probabilities (T, K+1).

    Each prefix keeps the probability of its alignments ending in a blank and ending in
    its last character; ``beam_width`` prefixes survive each frame. A character's
    confidence is its frame probability where the best prefix emitted it (the highest,
    when it was read over several frames).
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    p = np.asarray(probs, dtype=np.float64)
    # prefix -> [P(ends in blank), P(ends in its last symbol), per-character confidences]
    beams: dict[tuple[int, ...], list] = {(): [1.0, 0.0, ()]}
    for t in range(len(p)):
        frame = p[t]
        # Only symbols that can matter: the blank and the likeliest few.
        candidates = np.argsort(frame)[::-1][: max(beam_width, 2)]
        nxt: dict[tuple[int, ...], list] = {}
        for prefix, (p_blank, p_last, conf) in beams.items():
            total = p_blank + p_last
            for s in candidates:
                s = int(s)
                ps = float(frame[s])
                if s == BLANK:
                    _add(nxt, prefix, total * ps, 0.0, conf)
                    continue
                if prefix and prefix[-1] == s:
                    # The same symbol again: a new character only after a blank.
                    _add(nxt, (*prefix, s), 0.0, p_blank * ps, (*conf, ps))
                    held = (*conf[:-1], max(conf[-1], ps))
                    _add(nxt, prefix, 0.0, p_last * ps, held)
                else:
                    _add(nxt, (*prefix, s), 0.0, total * ps, (*conf, ps))
        ranked = sorted(nxt.items(), key=lambda kv: kv[1][0] + kv[1][1], reverse=True)
        beams = dict(ranked[:beam_width])
        # Rescale so long lines do not underflow (ranking is unchanged).
        scale = sum(v[0] + v[1] for v in beams.values()) or 1.0
        for v in beams.values():
            v[0] /= scale
            v[1] /= scale
    best, (_, _, conf) = max(beams.items(), key=lambda kv: kv[1][0] + kv[1][1])
    return ctc_text(best, alphabet), tuple(round(float(c), 6) for c in conf)


def _add(
    beams: dict[tuple[int, ...], list],
    prefix: tuple[int, ...],
    blank: float,
    last: float,
    conf: tuple[float, ...],
) -> None:
    """Add alignments' probability to ``prefix`` in the next frame's beams."""
    entry = beams.setdefault(prefix, [0.0, 0.0, conf])
    entry[0] += blank
    entry[1] += last
    if conf > entry[2]:
        entry[2] = conf


def decide_ctc(
    probs: np.ndarray,
    alphabet: Sequence[str],
    *,
    decoder: str = "greedy",
    frames: Sequence[int] | None = None,
    beam_width: int = DEFAULT_BEAM_WIDTH,
) -> list[Answer]:
    """Frame probabilities (N, T, K+1) -> one Answer per line. ``frames`` (per line) cuts
    off the frames of a padded batch that lie past the line's own width."""
    if decoder not in CTC_DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(CTC_DECODERS)}, got {decoder!r}")
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 3 or p.shape[2] != len(alphabet) + 1:
        raise ValueError(
            f"a line model's output must be (N, T, {len(alphabet) + 1}) (the blank and "
            f"{len(alphabet)} characters), got {p.shape}"
        )
    answers = []
    for row in range(len(p)):
        line = p[row] if frames is None else p[row, : max(1, int(frames[row]))]
        if decoder == "beam":
            text, conf = beam_decode(line, alphabet, beam_width)
        else:
            text, conf = greedy_decode(line, alphabet)
        sure = min(conf) if conf else float(np.min(line[:, BLANK]))
        answers.append(
            Answer(
                "ctc",
                text,
                round(float(sure), 6),
                {},
                characters=tuple(zip(text, conf, strict=True)),
            )
        )
    return answers


def line_frames(widths: Sequence[int], padded_width: int, frames: int) -> list[int]:
    """How many of a padded batch's ``frames`` each line of true width ``widths`` covers
    (the model's frames are spread evenly over the padded width)."""
    return [max(1, min(frames, math.ceil(frames * int(w) / padded_width))) for w in widths]
