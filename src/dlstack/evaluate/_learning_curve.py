"""Learning curves: error against training-set size, fit with a power law.

Error falls as a power of the data size towards an irreducible floor (Hestness et al.,
"Deep Learning Scaling is Predictable, Empirically", 2017):

    err(n) = a * n^(-b) + c

``c`` is the error no amount of data removes (label noise, ambiguity, the model's
capacity); ``b`` how fast data helps. Fitted to a few subsets of the data, the curve
answers the feasibility questions: what error would N times more data give, and how much
data would a required error take, if any amount would do.

>>> import numpy as np
>>> n = np.array([100, 200, 400, 800, 1600, 3200])
>>> fit = fit_power_law(n, 2.0 * n ** -0.5 + 0.02)
>>> round(fit.b, 3), round(fit.c, 3)
(0.5, 0.02)
>>> round(fit.data_needed(0.03).n / 1000)
40
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlstack.errors import DataError

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_DRAWS",
    "MAX_EXPONENT",
    "DataNeeded",
    "PowerLawFit",
    "fit_power_law",
]

DEFAULT_DRAWS = 100  # bootstrap refits for the band: ~0.5 s; 10/90% points stable to ~10%
MIN_BOOTSTRAP = 20  # fewer successful refits than this: fall back to the covariance
DEFAULT_BAND = 0.8  # central 80% interval: wide enough to be honest with 5-8 points
MAX_EXPONENT = 3.0  # b beyond this is not a learning curve but an artifact of few points
# Beyond this factor of the largest subset, "data needed" is called out of reach in
# practice: a thousand times the data is a different project.
OUT_OF_REACH_FACTOR = 1000.0


@dataclass(frozen=True)
class DataNeeded:
    """Training examples needed to reach ``target`` error, with its uncertainty."""

    target: float  # the error to reach (1 - required accuracy)
    n: float | None  # the fitted curve's answer; None when the floor c is above target
    low: float | None  # the band's optimistic end
    high: float | None  # the pessimistic end (None: some plausible curves never get there)
    reachable_share: float  # share of plausible curves whose floor is below target
    factor: float | None  # n / the largest subset measured

    @property
    def reachable(self) -> bool:
        """Whether the requirement looks reachable with more data of the same kind."""
        return (
            self.n is not None
            and self.reachable_share >= 0.5
            and (self.factor is None or self.factor <= OUT_OF_REACH_FACTOR)
        )

    def describe(self) -> str:
        if self.n is None or self.reachable_share < 0.5:
            return (
                f"out of reach: the fitted floor (irreducible error) is above the target "
                f"{self.target:.2%} in {1 - self.reachable_share:.0%} of plausible fits; more "
                f"data of this kind will not get there: change the model, the labels or "
                f"the requirement"
            )
        hi = "more than any plausible amount" if self.high is None else f"{self.high:,.0f}"
        lo = f"{self.low:,.0f}" if self.low is not None else "?"
        text = (
            f"about {self.n:,.0f} training examples ({self.factor:,.1f}x the largest "
            f"subset measured; {DEFAULT_BAND:.0%} band {lo} to {hi})"
        )
        if not self.reachable:
            text += "; out of reach in practice"
        return text


@dataclass(frozen=True)
class PowerLawFit:
    """``err(n) = a * n^(-b) + c`` fitted to measured (n, error) points."""

    a: float
    b: float
    c: float
    n: np.ndarray  # the subset sizes measured
    error: np.ndarray  # the errors measured
    samples: np.ndarray = field(repr=False)  # (draws, 3) plausible (a, b, c)
    method: str = "bootstrap"  # how samples were drawn: bootstrap or covariance

    def predict(self, n: float | np.ndarray) -> np.ndarray:
        x = np.asarray(n, dtype=np.float64)
        return self.a * x ** (-self.b) + self.c

    def band(
        self, n: float | np.ndarray, level: float = DEFAULT_BAND
    ) -> tuple[np.ndarray, np.ndarray]:
        """Percentile band of plausible curves at ``n``: (low, high)."""
        x = np.atleast_1d(np.asarray(n, dtype=np.float64))
        a, b, c = (self.samples[:, i : i + 1] for i in range(3))
        curves = a * x[None, :] ** (-b) + c  # (draws, len(n))
        q = (1 - level) / 2
        low, high = np.quantile(curves, [q, 1 - q], axis=0)
        return low, high

    def error_at(self, factor: float) -> tuple[float, float, float]:
        """(expected, low, high) error with ``factor`` times the largest subset."""
        n = float(self.n.max()) * factor
        low, high = self.band(n)
        return float(self.predict(n)), float(low[0]), float(high[0])

    def data_needed(self, target_error: float, level: float = DEFAULT_BAND) -> DataNeeded:
        """Examples needed to reach ``target_error``, or None where the floor is above it."""
        if not 0 < target_error < 1:
            raise DataError(f"target error must be in (0, 1), got {target_error}")
        largest = float(self.n.max())
        n = _solve(self.a, self.b, self.c, target_error)
        a, b, c = self.samples[:, 0], self.samples[:, 1], self.samples[:, 2]
        reachable = c < target_error
        share = float(reachable.mean())
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            needed = np.where(
                reachable, (a / np.maximum(target_error - c, 1e-300)) ** (1 / b), np.inf
            )
        q = (1 - level) / 2
        with np.errstate(invalid="ignore"):  # inf - inf between unreachable draws
            low, high = np.quantile(needed, [q, 1 - q])
        return DataNeeded(
            target=target_error,
            n=n,
            low=float(low) if np.isfinite(low) else None,
            high=float(high) if np.isfinite(high) else None,
            reachable_share=share,
            factor=n / largest if n is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "n": self.n.tolist(),
            "error": self.error.tolist(),
            "method": self.method,
        }


def fit_power_law(
    n: np.ndarray | list[float],
    error: np.ndarray | list[float],
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> PowerLawFit:
    """Least-squares fit of ``a * n^(-b) + c`` (scipy ``curve_fit``) on relative errors.

    Residuals are weighted by the error itself (``sigma=error``), so a point at 2% error
    counts as much as one at 40%. The uncertainty comes from a residual bootstrap: the fitted
    curve plus resampled relative residuals, refit ``draws`` times (honest where a parameter
    sits at its bound, such as a floor c of 0, where normal draws from the covariance are
    not); the covariance is the fallback when too few refits succeed.
    """
    x = np.asarray(n, dtype=np.float64)
    y = np.asarray(error, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(f"n and error must be 1-D and the same length, got {x.shape}, {y.shape}")
    if len(np.unique(x)) < 4:
        raise DataError(
            f"a learning curve needs errors at 4 or more subset sizes to fit 3 parameters, "
            f"got {len(np.unique(x))}; measure more fractions"
        )
    if (x <= 0).any() or not np.isfinite(y).all() or (y < 0).any():
        raise DataError("subset sizes must be positive and errors finite and >= 0")
    floor = max(float(y.min()), 1e-6)
    y = np.maximum(y, floor * 1e-3)  # a zero error would get infinite weight
    scale = float(np.exp(np.log(x).mean()))  # fit on n / scale: a stays O(error)
    params, cov = _fit(x / scale, y)
    a, b, c = params
    rng = np.random.default_rng(seed)
    method = "bootstrap"
    samples = _bootstrap(x / scale, y, params, rng, draws)
    if len(samples) < MIN_BOOTSTRAP and cov is not None and np.isfinite(cov).all():
        method = "covariance"
        raw = rng.multivariate_normal(params, cov, size=draws, check_valid="ignore")
        raw[:, 0] = np.maximum(raw[:, 0], 1e-12)
        raw[:, 1] = np.clip(raw[:, 1], 1e-6, MAX_EXPONENT)
        raw[:, 2] = np.maximum(raw[:, 2], 0.0)
        samples = raw
    # Back to the original n: a * (n/scale)^-b = (a * scale^b) * n^-b.
    samples = samples.copy()
    samples[:, 0] = samples[:, 0] * scale ** samples[:, 1]
    return PowerLawFit(
        float(a * scale**b), float(b), float(c), x, np.asarray(error, float), samples, method
    )


def _model(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a * x ** (-b) + c


def _fit(
    x: np.ndarray, y: np.ndarray, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    from scipy.optimize import OptimizeWarning, curve_fit

    upper_c = float(y.max())
    if start is None:
        # A straight line in log-log through the points minus half the lowest error.
        c0 = 0.5 * float(y.min())
        slope, intercept = np.polyfit(np.log(x), np.log(np.maximum(y - c0, 1e-12)), 1)
        b0 = float(np.clip(-slope, 0.05, MAX_EXPONENT - 0.05))
        a0 = float(max(np.exp(intercept), 1e-9))
    else:
        a0, b0, c0 = (float(v) for v in start)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            params, cov = curve_fit(
                _model,
                x,
                y,
                p0=(max(a0, 1e-9), float(np.clip(b0, 1e-3, MAX_EXPONENT)), min(c0, upper_c * 0.99)),
                sigma=y,
                bounds=([1e-12, 1e-6, 0.0], [np.inf, MAX_EXPONENT, upper_c]),
                maxfev=20000,
            )
    except (RuntimeError, ValueError) as e:
        raise DataError(
            f"the learning curve could not be fit ({e}); the errors may not fall with more "
            f"data (check the measurements, or train each subset longer)"
        ) from None
    return np.asarray(params, dtype=np.float64), np.asarray(cov, dtype=np.float64)


def _bootstrap(
    x: np.ndarray, y: np.ndarray, params: np.ndarray, rng: np.random.Generator, draws: int
) -> np.ndarray:
    """Refit on the fitted curve plus resampled relative residuals."""
    fitted = _model(x, *params)
    rel = y / fitted - 1
    out = []
    for _ in range(draws):
        y_star = fitted * (1 + rng.choice(rel, size=len(rel), replace=True))
        try:
            p, _ = _fit(x, np.maximum(y_star, 1e-9), start=params)  # warm start: faster
        except DataError:
            continue
        out.append(p)
    return np.asarray(out).reshape(-1, 3)


def _solve(a: float, b: float, c: float, target: float) -> float | None:
    if target <= c or a <= 0 or b <= 0:
        return None
    value = (a / (target - c)) ** (1 / b)
    return value if math.isfinite(value) else None
