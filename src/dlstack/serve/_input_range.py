"""Is a request's input far outside what the model was trained on?

A model answers anything it is given: a 0..255 image sent where scaled and standardized
pixels are expected gives logits around -400 and a confident wrong class. The package
records each input's range over the train split (``InputSpec.train_range``, measured on
the model input at export); every inference request is compared with it and, when it lies
far outside, answered as usual plus a warning (OIP ``parameters.input_out_of_range``,
``/predict``'s ``warnings``, the ``dlstack_input_out_of_range_total`` counter, and a log
line once per ``LOG_EVERY`` such requests).

The rule, per example (so a request's verdict does not depend on how it was batched):

* the train range of each channel (image) or encoded feature (table) is widened by
  ``MARGIN`` of its width on each side, and by at least ``MIN_MARGIN``;
* an image is out when more than ``IMAGE_SHARE`` of one channel's values lie beyond its
  widened range (a few hot pixels are not; a 0..255 digit's strokes, a fifth of it, are);
* a table row is out when any feature lies beyond (each value is a fact of its own).

A package without a recorded range (exported before it existed) is never warned about.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from dlstack.package import InputSpec, PackageSpec
    from dlstack.serve._monitoring import Metrics

__all__ = [
    "IMAGE_SHARE",
    "LOG_EVERY",
    "MARGIN",
    "MIN_MARGIN",
    "OUT_OF_RANGE_PARAMETER",
    "RangeWarning",
    "RangeWatch",
]

OUT_OF_RANGE_PARAMETER = "input_out_of_range"  # the OIP response parameter of the warning

# Widen the train range by half its width on each side: ordinary test data stays inside
# with room (the range's own ends are 0.1%/99.9% quantiles or extremes), while a 0..255
# image (x255) or a value 50 standard deviations out lies many widths beyond.
MARGIN = 0.5
# And by at least one unit: model inputs are standardized (one train standard deviation),
# a one-hot feature's unit is 0..1; a constant train feature would otherwise allow nothing.
MIN_MARGIN = 1.0
IMAGE_SHARE = 0.01  # an image is out when >1% of one channel's values are beyond
UNSCALED = 20.0  # values 20x the train's largest: pixels not divided by pixel_scale
LOG_EVERY = 100  # the server log notes the 1st, 101st, ... out-of-range request per input
_MAX_FEATURES_NAMED = 3  # a warning names the features furthest out, not all of them
# Inputs larger than this are checked in a worker thread: a few passes over a batch of
# photos take tens of ms, which must not stall the event loop (as _body parses big bodies).
_INLINE_VALUES = 1 << 16

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RangeWarning:
    """One input of one request, far outside the training range."""

    model: str
    input: str
    examples: int  # how many of the request's examples are out
    total: int
    text: str  # what, how far, the likely cause and the fix


@dataclass(frozen=True)
class _Bounds:
    """One input's widened train range, as arrays (computed once per loaded spec)."""

    spec: InputSpec
    low: np.ndarray  # train range, per channel / feature
    high: np.ndarray
    lo: np.ndarray  # widened
    hi: np.ndarray
    # Inside [inner_lo, inner_hi] a value is inside every channel's / feature's widened
    # range: the common case is decided by one min and one max.
    inner_lo: float
    inner_hi: float

    @classmethod
    def of(cls, spec: InputSpec) -> _Bounds | None:
        r = spec.train_range
        if r is None:
            return None
        low, high = np.asarray(r.low, np.float64), np.asarray(r.high, np.float64)
        margin = np.maximum(MARGIN * (high - low), MIN_MARGIN)
        lo, hi = low - margin, high + margin
        return cls(spec, low, high, lo, hi, float(lo.max()), float(hi.min()))


class RangeWatch:
    """The server's range checks: ``check`` one request, ``observe`` what it found."""

    def __init__(self, metrics: Metrics, *, log_every: int = LOG_EVERY) -> None:
        self._metrics = metrics
        self._log_every = log_every
        self._bounds: dict[int, tuple[InputSpec, _Bounds | None]] = {}
        self._seen: dict[tuple[str, str], int] = {}

    def check(self, spec: PackageSpec, x: Any) -> list[RangeWarning]:
        """The warnings for model input ``x`` (one array, or a dict by input name)."""
        found = []
        for inp in spec.inputs:
            bounds = self._bounds_of(inp)
            if bounds is None:
                continue
            array = x[inp.name] if isinstance(x, dict) else x
            found.append(_check(spec, bounds, np.asarray(array)))
        return [w for w in found if w is not None]

    async def check_request(self, spec: PackageSpec, x: Any) -> list[RangeWarning]:
        """:meth:`check`, in a worker thread when ``x`` is large."""
        arrays = x.values() if isinstance(x, dict) else [x]
        if sum(np.asarray(a).size for a in arrays) <= _INLINE_VALUES:
            return self.check(spec, x)
        return await run_in_threadpool(self.check, spec, x)

    def observe(self, warnings: list[RangeWarning]) -> None:
        """Count the warnings, and log one in every ``log_every`` per model and input
        (a client sending every request out of range must not flood the log)."""
        for w in warnings:
            self._metrics.input_out_of_range.labels(w.model, w.input).inc()
            key = (w.model, w.input)
            seen = self._seen[key] = self._seen.get(key, 0) + 1
            if seen % self._log_every == 1 or self._log_every == 1:
                _log.warning(
                    "model %s: %d request(s) with input %r far outside the training range "
                    "since the server started (logged once per %d); the latest: %s",
                    w.model,
                    seen,
                    w.input,
                    self._log_every,
                    w.text,
                )

    def _bounds_of(self, inp: InputSpec) -> _Bounds | None:
        # Keyed by identity, the spec kept beside its bounds: an id is never reused while
        # its entry lives. One entry per input of each version loaded since the start.
        cached = self._bounds.get(id(inp))
        if cached is None or cached[0] is not inp:
            cached = self._bounds[id(inp)] = (inp, _Bounds.of(inp))
        return cached[1]


def _check(spec: PackageSpec, b: _Bounds, x: np.ndarray) -> RangeWarning | None:
    if x.size == 0 or (b.inner_lo <= x.min() and x.max() <= b.inner_hi):
        return None
    inp = b.spec
    if inp.kind == "table":
        return _check_table(spec, b, x.reshape(len(x), -1))
    return _check_image(spec, b, x)


def _check_image(spec: PackageSpec, b: _Bounds, x: np.ndarray) -> RangeWarning | None:
    per_channel = (None, slice(None), None, None)  # (C,) -> (1, C, 1, 1)
    beyond = (x < b.lo[per_channel]) | (x > b.hi[per_channel])  # (N, C, H, W)
    share = beyond.reshape(*x.shape[:2], -1).mean(axis=2)  # (N, C)
    out = (share > IMAGE_SHARE).any(axis=1)
    if not out.any():
        return None
    inp = b.spec
    assert inp.train_range is not None
    c = int(share[out].max(axis=0).argmax())  # the channel furthest out
    seen = x[out][:, c]
    peak = float(np.abs(x[out]).max())
    train_peak = float(max(np.abs(b.low).max(), np.abs(b.high).max()))
    norm = inp.norm
    expects = (
        f"the model expects (pixels / {inp.pixel_scale:g} - mean) / std per channel, mean "
        f"{_list(norm.mean)}, std {_list(norm.std)}"
    )
    cause = (
        f"sent 0..255 pixels? {expects}"
        if peak > UNSCALED * max(train_peak, 1.0)
        else f"preprocessed differently from training? {expects}"
    )
    text = (
        f"input {inp.name!r}: {int(out.sum())} of {len(x)} image(s) far outside the training "
        f"range: channel {inp.train_range.names[c]}: {float(share[out, c].max()):.0%} of "
        f"values beyond {b.lo[c]:.3g}..{b.hi[c]:.3g} (got {seen.min():.3g}..{seen.max():.3g}; "
        f"the train images lay in {b.low[c]:.3g}..{b.high[c]:.3g}); {cause} "
        f"(GET /v2/models/{spec.name} lists this preprocessing; POST /predict with the "
        f"image file applies it)"
    )
    return RangeWarning(spec.name, inp.name, int(out.sum()), len(x), text)


def _check_table(spec: PackageSpec, b: _Bounds, x: np.ndarray) -> RangeWarning | None:
    beyond = (x < b.lo) | (x > b.hi)  # (N, D)
    out = beyond.any(axis=1)
    if not out.any():
        return None
    inp = b.spec
    width = np.maximum(b.high - b.low, MIN_MARGIN)
    # How far each value lies beyond the train range, in widths of it; per feature, the worst.
    far = np.maximum(b.low - x, x - b.high) / width
    rows = np.where(beyond, far, -np.inf)
    worst_row = rows.argmax(axis=0)  # (D,)
    worst = rows.max(axis=0)
    named = [int(j) for j in np.argsort(-worst, kind="stable") if beyond[:, j].any()]
    parts = [
        _feature_text(inp, b, j, float(x[worst_row[j], j])) for j in named[:_MAX_FEATURES_NAMED]
    ]
    more = len(named) - _MAX_FEATURES_NAMED
    text = (
        f"input {inp.name!r}: {int(out.sum())} of {len(x)} row(s) far outside the training "
        f"range: {'; '.join(parts)}{f'; and {more} more feature(s)' if more > 0 else ''}. "
        f"A unit mix-up, a typo or a new kind of data? The model was not trained on such "
        f"values and its answer is unreliable"
    )
    return RangeWarning(spec.name, inp.name, int(out.sum()), len(x), text)


def _feature_text(inp: InputSpec, b: _Bounds, j: int, value: float) -> str:
    """One feature's value and the train range, in the column's own units when the
    feature is a standardized numeric column (its encoded value is then a z-score)."""
    assert inp.train_range is not None
    name = inp.train_range.names[j]
    numeric = _numeric_columns(inp).get(j)
    if numeric is None:
        return (
            f"feature {name!r} = {value:.4g} (the train rows had {b.low[j]:.4g}..{b.high[j]:.4g})"
        )
    mean, std = numeric
    return (
        f"column {name!r} = {value * std + mean:.4g}, {abs(value):.3g} train standard "
        f"deviations from its train mean {mean:.4g} (the train rows had "
        f"{b.low[j] * std + mean:.4g}..{b.high[j] * std + mean:.4g})"
    )


def _numeric_columns(inp: InputSpec) -> dict[int, tuple[float, float]]:
    """Encoded feature index -> (train mean, train std) of the numeric column it is."""
    if inp.table is None:
        return {}
    encoder = inp.encoder()
    found, j = {}, 0
    for k, (col, vocab) in enumerate(zip(encoder.columns, encoder.vocabulary, strict=True)):
        if col.kind == "numeric":
            found[j] = (encoder.mean[k], encoder.std[k])
            j += 1
        else:
            j += len(vocab)
    return found


def _list(values: Any) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"
