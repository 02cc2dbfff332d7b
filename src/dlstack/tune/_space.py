"""The search space in Optuna's terms, and coarse-to-fine's narrowing of it.

A :class:`dlstack.config.Dimension` becomes one Optuna distribution (the study keeps the
FULL range for every trial, so importances, the dashboard and TPE see one space); a
coarse-to-fine round samples inside a narrower :class:`Range` of it.

>>> from dlstack.config import Dimension
>>> full = Range.of(Dimension.parse("lr", "log-uniform 1e-5 1e-1"))
>>> narrow = full.around([1e-3, 3e-3])
>>> 1e-5 < narrow.low < 1e-3 and 3e-3 < narrow.high < 1e-1
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from dlstack.config import Dimension, full_key

__all__ = ["PAD", "Range", "distributions", "narrow_space"]

# Coarse-to-fine keeps a margin around the top trials' span: a quarter of that span, plus
# 5% of the full range, on each side (in log space for log dimensions), so a round can
# still step past the best values seen so far instead of collapsing onto them.
PAD = (0.25, 0.05)


def distributions(space: Mapping[str, Dimension]) -> dict[str, BaseDistribution]:
    """``{"train.lr": FloatDistribution(1e-5, 1e-2, log=True), ...}``, keyed by full key."""
    return {full_key(key): _distribution(dim) for key, dim in space.items()}


def _distribution(dim: Dimension) -> BaseDistribution:
    if dim.kind == "choice":
        return CategoricalDistribution(_choices(dim.choices))
    assert dim.low is not None and dim.high is not None
    if dim.kind == "int":
        return IntDistribution(int(dim.low), int(dim.high), log=dim.log)
    return FloatDistribution(dim.low, dim.high, log=dim.log)


def _choices(values: Sequence[Any]) -> tuple[Any, ...]:
    # Optuna stores None/bool/int/float/str choices; anything else (a table) as its text.
    return tuple(
        v if v is None or isinstance(v, (bool, int, float, str)) else str(v) for v in values
    )


@dataclass(frozen=True)
class Range:
    """A dimension's current range: ``low``..``high`` (numbers) or ``choices``."""

    kind: str  # float | int | choice
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    @classmethod
    def of(cls, dim: Dimension) -> Range:
        if dim.kind == "choice":
            return cls("choice", choices=_choices(dim.choices))
        assert dim.low is not None and dim.high is not None
        return cls(dim.kind, float(dim.low), float(dim.high), dim.log)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Range:
        return cls(
            str(data["kind"]),
            float(data.get("low", 0.0)),
            float(data.get("high", 0.0)),
            bool(data.get("log", False)),
            tuple(data.get("choices", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"kind": "choice", "choices": list(self.choices)}
        return {"kind": self.kind, "low": self.low, "high": self.high, "log": self.log}

    def describe(self) -> str:
        if self.kind == "choice":
            return ", ".join(map(str, self.choices))
        if self.kind == "int":
            return f"{int(self.low)} .. {int(self.high)}{' (log)' if self.log else ''}"
        return f"{self.low:.3g} .. {self.high:.3g}{' (log)' if self.log else ''}"

    def around(self, values: Sequence[Any], full: Range | None = None) -> Range:
        """The range the next round searches: the span of ``values`` (the top trials'),
        padded by :data:`PAD`, inside ``full`` (default: this range)."""
        full = full or self
        if not values:
            return self
        if self.kind == "choice":
            kept = tuple(c for c in full.choices if c in set(values))
            return Range("choice", choices=kept or full.choices)
        f = _forward(self.log)
        lo, hi = f(min(values)), f(max(values))
        full_lo, full_hi = f(full.low), f(full.high)
        pad = PAD[0] * (hi - lo) + PAD[1] * (full_hi - full_lo)
        new_lo, new_hi = max(full_lo, lo - pad), min(full_hi, hi + pad)
        back = _inverse(self.log)
        low, high = back(new_lo), back(new_hi)
        if self.kind == "int":
            low, high = float(math.floor(low)), float(math.ceil(high))
            if low == high:  # keep a range an int can move in
                low, high = max(full.low, low - 1), min(full.high, high + 1)
        return Range(self.kind, max(full.low, low), min(full.high, high), self.log)


def narrow_space(
    ranges: Mapping[str, Range], top: Sequence[Mapping[str, Any]], full: Mapping[str, Range]
) -> dict[str, Range]:
    """Every dimension narrowed around the parameter values of the ``top`` trials."""
    return {
        key: rng.around([t[key] for t in top if key in t], full[key]) for key, rng in ranges.items()
    }


def _forward(log: bool) -> Any:
    return math.log if log else (lambda v: float(v))


def _inverse(log: bool) -> Any:
    return math.exp if log else (lambda v: float(v))
