"""Plots for the evaluate stage: learning curve with its fit and band, PR and ROC curves
with the operating point, per-slice accuracy. PNG bytes via matplotlib's Agg canvas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dlstack.report import figure_png, plot_text

__all__ = [
    "error_axis_limits",
    "learning_curve_figure",
    "learning_curve_png",
    "pr_roc_png",
    "slice_bars_png",
]


# The error axis spans the data, not the fitted floor: a floor c of ~0 (8.7e-20 is a
# common fit) on a log axis would squeeze every measured point into the top tenth.
AXIS_MARGIN_BELOW = 0.5  # bottom = half the smallest error shown (measured, fitted, target)
AXIS_MARGIN_ABOVE = 1.6  # top = 1.6x the largest, at most an error of 1


def error_axis_limits(scope: Mapping[str, Any]) -> tuple[float, float]:
    """(bottom, top) of the learning curve's log error axis: the measured errors, the fitted
    curve over the plotted range and the target, with a margin; never the floor ``c`` or
    the band's ends, which can sit many decades away from anything measured.

    >>> scope = {"points": [{"n_train": 100, "error": 0.2}, {"n_train": 400, "error": 0.1}],
    ...          "fit": {"c": 8.7e-20}}
    >>> [round(v, 3) for v in error_axis_limits(scope)]
    [0.05, 0.32]
    """
    shown = [float(p["error"]) for p in scope.get("points") or []]
    curve = scope.get("curve")
    if curve:
        shown += [float(e) for e in curve["error"]]
    needed = scope.get("needed")
    if needed:
        shown.append(float(needed["target_error"]))
    positive = [e for e in shown if e > 0 and np.isfinite(e)]
    if not positive:  # every error was zero: nothing to scale the axis by
        return 1e-3, 1.0
    top = min(1.0, max(positive) * AXIS_MARGIN_ABOVE)
    return min(positive) * AXIS_MARGIN_BELOW, max(top, min(positive))


def learning_curve_png(scope: Mapping[str, Any]) -> bytes | None:
    """Error against training examples (log-log): the measured points, the fitted power
    law with its band, the irreducible floor and the target error. None without points.

    The error axis is :func:`error_axis_limits`; a floor below it is stated in the plot."""
    fig = learning_curve_figure(scope)
    return None if fig is None else figure_png(fig)


def learning_curve_figure(scope: Mapping[str, Any]) -> Any:
    """The matplotlib Figure of :func:`learning_curve_png` (None without points)."""
    points = scope.get("points") or []
    if not points:
        return None
    from matplotlib.figure import Figure

    n = np.array([p["n_train"] for p in points], dtype=float)
    err = np.array([p["error"] for p in points], dtype=float)
    bottom, top = error_axis_limits(scope)
    fig = Figure(figsize=(7.5, 4.4))
    ax = fig.subplots()
    curve = scope.get("curve")
    fit = scope.get("fit") or {}
    if curve:
        x = np.asarray(curve["n"], dtype=float)
        ax.fill_between(
            x,
            np.clip(curve["low"], bottom, top),
            np.clip(curve["high"], bottom, top),
            color="#0969da",
            alpha=0.15,
            label=f"{curve.get('level', 0.8):.0%} band (bootstrap)",
        )
        ax.plot(
            x,
            curve["error"],
            "-",
            color="#0969da",
            label=f"fit: {fit.get('a', 0):.3g}·n^-{fit.get('b', 0):.3f} + {fit.get('c', 0):.3g}",
        )
    floor = float(fit.get("c") or 0.0)
    if floor >= bottom:
        ax.axhline(floor, color="#8c959f", ls=":", label=f"irreducible {floor:.2%}")
    elif fit:
        ax.text(
            0.01,
            0.02,
            f"irreducible error (fitted floor c) {floor:.2g}: below this axis, about 0",
            transform=ax.transAxes,
            fontsize=8,
            color="#57606a",
        )
    needed = scope.get("needed")
    if needed:
        ax.axhline(
            needed["target_error"],
            color="#cf222e",
            ls="--",
            label=f"target {needed['target_error']:.2%}",
        )
    ax.plot(n[err > 0], err[err > 0], "o", color="#1f2328", label="measured (val)")
    if (err <= 0).any():  # log axis: a zero error sits on the axis floor, marked apart
        ax.plot(
            n[err <= 0],
            np.full((err <= 0).sum(), bottom),
            "v",
            color="#1f2328",
            label="measured: zero error",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    ax.set_xlabel("training examples")
    ax.set_ylabel("error (1 - accuracy)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("learning curve")
    fig.tight_layout()
    return fig


def pr_roc_png(
    pr: tuple[Sequence[float], Sequence[float]],
    roc: tuple[Sequence[float], Sequence[float]],
    *,
    point: tuple[float, float] | None = None,
    roc_point: tuple[float, float] | None = None,
    label: str = "",
    areas: tuple[float, float] | None = None,
) -> bytes:
    """PR curve (recall, precision) beside the ROC curve (FPR, TPR); the chosen operating
    point marked on both."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.8))
    ax_pr, ax_roc = fig.subplots(1, 2)
    ax_pr.plot(pr[0], pr[1], "-", color="#0969da", drawstyle="steps-post")
    ax_roc.plot(roc[0], roc[1], "-", color="#0969da")
    ax_roc.plot([0, 1], [0, 1], ":", color="#8c959f")
    if point is not None:
        ax_pr.plot(*point, "o", color="#cf222e", markersize=8, label="operating threshold")
        ax_pr.legend(fontsize=8, loc="lower left")
    if roc_point is not None:
        ax_roc.plot(*roc_point, "o", color="#cf222e", markersize=8)
    pr_title = f"precision-recall, {plot_text(label)} vs rest"
    roc_title = "ROC"
    if areas is not None:
        pr_title += f" (AP {areas[0]:.3f})"
        roc_title += f" (AUC {areas[1]:.3f})"
    ax_pr.set(xlabel="recall", ylabel="precision", title=pr_title, xlim=(0, 1.02), ylim=(0, 1.02))
    ax_roc.set(
        xlabel="false-positive rate",
        ylabel="true-positive rate",
        title=roc_title,
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    for ax in (ax_pr, ax_roc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return figure_png(fig)


def slice_bars_png(values: Mapping[str, float], *, title: str, limit: float | None = None) -> bytes:
    """Horizontal bars of one metric per slice, worst first; an optional limit line."""
    from matplotlib.figure import Figure

    names = sorted(values, key=lambda k: values[k])
    fig = Figure(figsize=(7, 0.32 * len(names) + 1.3))
    ax = fig.subplots()
    colors = ["#cf222e" if limit is not None and values[n] < limit else "#8c959f" for n in names]
    ax.barh([plot_text(str(n))[:24] for n in names], [values[n] for n in names], color=colors)
    if limit is not None:
        ax.axvline(limit, color="#cf222e", ls="--")
    ax.set_xlim(0, 1.05)
    ax.invert_yaxis()
    ax.set_title(plot_text(title))
    fig.tight_layout()
    return figure_png(fig)
