"""What `dlstack scope` found: the measured points, the fitted curve, its answers, and
the compute cost of today's data and of the data the requirement needs.

:func:`dlstack.evaluate.scope` fills a :class:`ScopeResult`; ``to_dict`` is what
``scope.json`` holds and the reports read. The cost of the data needed
(:class:`NeededCompute`) is today's measured rate scaled by the data factor the fitted
curve gives (``ComputeEstimate.scaled``), at the fit's answer and at both ends of its band:
the same epochs (``train.max_epochs``) on more examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlstack.evaluate._compute import ComputeEstimate
from dlstack.evaluate._learning_curve import (
    DEFAULT_BAND,
    OUT_OF_REACH_FACTOR,
    DataNeeded,
    PowerLawFit,
)

__all__ = ["NeededCompute", "ScopePoint", "ScopeResult", "price_needed"]


@dataclass(frozen=True)
class ScopePoint:
    """One training subset: its size, the error it reached, what it cost."""

    fraction: float
    n_train: int
    error: float  # best val error seen (1 - accuracy)
    seconds: float  # training time (optimizer steps only)
    examples_seen: int  # examples processed by optimizer steps
    rounds: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "n_train": self.n_train,
            "error": self.error,
            "seconds": self.seconds,
            "examples_seen": self.examples_seen,
            "rounds": self.rounds,
        }


@dataclass(frozen=True)
class NeededCompute:
    """Training on the data the requirement needs: the estimate at the fitted size, and at
    the band's optimistic (``low``) and pessimistic (``high``) sizes when they are finite."""

    n_train: int
    factor: float  # n_train / today's train split
    estimate: ComputeEstimate
    low: ComputeEstimate | None = None
    high: ComputeEstimate | None = None

    def to_dict(self) -> dict[str, Any]:
        def usd(e: ComputeEstimate | None) -> list[float | None]:
            return [None] * len(self.estimate.rows) if e is None else [r.usd_total for r in e.rows]

        low, high = usd(self.low), usd(self.high)
        return {
            "n_train": self.n_train,
            "factor": self.factor,
            "n_low": None if self.low is None else self.low.examples_per_epoch,
            "n_high": None if self.high is None else self.high.examples_per_epoch,
            "seconds_per_epoch_here": self.estimate.seconds_per_epoch,
            "seconds_total_here": self.estimate.seconds_total,
            "epochs": self.estimate.epochs,
            "gpus": [
                {
                    "name": r.gpu.name,
                    "seconds_per_epoch": r.seconds_per_epoch,
                    "seconds_total": r.seconds_total,
                    "usd_total": r.usd_total,
                    "usd_low": lo,
                    "usd_high": hi,
                    "bound": r.bound,
                }
                for r, lo, hi in zip(self.estimate.rows, low, high, strict=True)
            ],
        }


def price_needed(
    compute: ComputeEstimate | None, needed: DataNeeded | None, n_train: int
) -> tuple[NeededCompute | None, str | None]:
    """The cost of the data ``needed``, or None and why it is not priced."""
    if compute is None or needed is None:
        return None, None
    if needed.n is None or needed.factor is None or not needed.reachable:
        return None, (
            "the data the requirement needs is not priced: the fitted curve does not reach "
            f"it within {OUT_OF_REACH_FACTOR:,.0f}x today's data"
        )

    def at(n: float | None) -> ComputeEstimate | None:
        if n is None or not np.isfinite(n) or n / n_train > OUT_OF_REACH_FACTOR:
            return None
        return compute.scaled(n / n_train)

    estimate = compute.scaled(needed.factor)
    return NeededCompute(
        estimate.examples_per_epoch, needed.factor, estimate, at(needed.low), at(needed.high)
    ), None


@dataclass
class ScopeResult:
    """The learning curve, its fit, and the answers to the feasibility questions."""

    points: list[ScopePoint]
    fit: PowerLawFit | None
    architecture: str
    epochs: int
    split: str
    data_version: str
    requirement: float | None  # required accuracy, from [metric] requirement
    needed: DataNeeded | None  # data to meet it (None without a requirement or a fit)
    more_data: list[tuple[float, float, float, float]] = field(default_factory=list)
    compute: ComputeEstimate | None = None  # today's train split, measured and on GPUs
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    compute_needed: NeededCompute | None = None  # the data ``needed``, priced the same way

    @property
    def n_train(self) -> int:
        """Examples in the full train split (the largest subset)."""
        return max(p.n_train for p in self.points)

    def curve(self, points: int = 60) -> dict[str, Any] | None:
        """The fit and its band on a log grid from the smallest subset to 10x the largest
        (further when the data needed for the requirement is further, up to 1000x)."""
        if self.fit is None:
            return None
        smallest = min(p.n_train for p in self.points)
        reach = 10.0
        if self.needed is not None and self.needed.factor is not None:
            reach = min(max(reach, self.needed.factor * 1.5), OUT_OF_REACH_FACTOR)
        grid = np.geomspace(smallest, self.n_train * reach, points)
        low, high = self.fit.band(grid, DEFAULT_BAND)
        return {
            "n": grid.tolist(),
            "error": self.fit.predict(grid).tolist(),
            "low": low.tolist(),
            "high": high.tolist(),
            "level": DEFAULT_BAND,
        }

    def to_dict(self) -> dict[str, Any]:
        needed = self.needed
        return {
            "architecture": self.architecture,
            "epochs": self.epochs,
            "split": self.split,
            "data_version": self.data_version,
            "points": [p.to_dict() for p in self.points],
            "fit": self.fit.to_dict() if self.fit else None,
            "curve": self.curve(),
            "requirement": self.requirement,
            "needed": None
            if needed is None
            else {
                "target_error": needed.target,
                "n": needed.n,
                "low": needed.low,
                "high": needed.high,
                "reachable_share": needed.reachable_share,
                "reachable": needed.reachable,
                "summary": needed.describe(),
            },
            "more_data": [
                {"factor": f, "error": e, "low": lo, "high": hi} for f, e, lo, hi in self.more_data
            ],
            "compute": self.compute.to_dict() if self.compute else None,
            "compute_needed": self.compute_needed.to_dict() if self.compute_needed else None,
            "notes": self.notes,
            "seconds": self.seconds,
        }
