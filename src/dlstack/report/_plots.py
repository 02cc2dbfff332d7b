"""Plots for reports, rendered to PNG bytes with matplotlib's Agg canvas (no pyplot, no
display, no global backend switch), and small images encoded with PIL."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "bar_chart_png",
    "confusion_matrix_png",
    "figure_png",
    "image_png",
    "plot_text",
    "training_curves_png",
]

DPI = 100
THUMB_PX = 84  # mistake thumbnails: 28x28 digits at 3x, 8x8 digits at ~10x


def figure_png(fig: Figure) -> bytes:
    """Render a matplotlib Figure to PNG bytes with the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    # No "Software" tEXt chunk: the report carries no third-party URLs, even inside PNGs.
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def plot_text(label: str) -> str:
    # matplotlib treats "$...$" as math; a label is shown literally.
    return label.replace("$", r"\$")


def training_curves_png(
    history: Sequence[Mapping[str, float]], curve: tuple[str, str] = ("acc", "accuracy")
) -> bytes | None:
    """Loss and a metric (``curve``: (history key, title), accuracy by default) per
    epoch, train and val side by side; None without history."""
    if not history:
        return None
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [row.get("epoch", i) for i, row in enumerate(history)]
    fig = Figure(figsize=(9, 3.4))
    for ax, metric, title in zip(
        fig.subplots(1, 2), ("loss", curve[0]), ("loss", curve[1]), strict=True
    ):
        for split, style in (("train", "-o"), ("val", "--s")):
            values = [row.get(f"{split}_{metric}") for row in history]
            points = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, markersize=3, label=split)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    return figure_png(fig)


def confusion_matrix_png(confusion: np.ndarray, labels: Sequence[str]) -> bytes:
    """Counts per (true, predicted) pair; color is the share of the true class (row)."""
    from matplotlib.figure import Figure

    cm = np.asarray(confusion)
    c = cm.shape[0]
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    side = min(12.0, max(4.0, 0.45 * c + 2))
    fig = Figure(figsize=(side, side * 0.9))
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    names = [plot_text(str(label))[:12] for label in labels]
    ax.set_xticks(range(c), names, rotation=45 if c > 10 else 0, ha="right" if c > 10 else "center")
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if c <= 30:  # beyond that the numbers are unreadable anyway
        for i in range(c):
            for j in range(c):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        str(int(cm[i, j])),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black",
                    )
    fig.tight_layout()
    return figure_png(fig)


def bar_chart_png(
    values: Mapping[str, float], *, title: str, highlight: str | None = None
) -> bytes:
    """Horizontal bars (e.g. accuracy of each baseline and the model), 0..1 scale."""
    from matplotlib.figure import Figure

    names = list(values)
    fig = Figure(figsize=(7, 0.5 * len(names) + 1.2))
    ax = fig.subplots()
    colors = ["#0969da" if n == highlight else "#8c959f" for n in names]
    bars = ax.barh([plot_text(n) for n in names], [values[n] for n in names], color=colors)
    ax.bar_label(bars, fmt="%.3f", padding=3)
    # 0..1 scores; a score below 0 (a regression's R^2 of a bad predictor) or above 1 (the
    # CER of a reader that inserts characters) is shown too.
    scaled = [1.1 * float(v) for v in values.values()]
    ax.set_xlim(min(0.0, *scaled), max(1.1, *scaled))
    ax.invert_yaxis()
    ax.set_title(title)
    fig.tight_layout()
    return figure_png(fig)


def predicted_vs_true_png(
    true: np.ndarray, predicted: np.ndarray, *, name: str, baseline: float | None = None
) -> bytes:
    """A regression's predicted numbers against the true ones (one dot per example), with
    the line of perfect answers and, when given, the baseline's constant answer."""
    from matplotlib.figure import Figure

    t, p = np.asarray(true, dtype=float), np.asarray(predicted, dtype=float)
    fig = Figure(figsize=(4.8, 4.4))
    ax = fig.subplots()
    ax.scatter(t, p, s=10, alpha=0.6, color="#0969da", label="examples")
    low, high = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([low, high], [low, high], "--", color="#57606a", label="perfect")
    if baseline is not None:
        ax.axhline(baseline, color="#cf222e", linewidth=1, label="train mean")
    ax.set_xlabel(f"true {plot_text(name)}")
    ax.set_ylabel(f"predicted {plot_text(name)}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return figure_png(fig)


def image_png(pixels: np.ndarray, *, size: int = THUMB_PX) -> bytes:
    """A uint8 image (H, W) or (H, W, 3) as PNG, scaled up by an integer factor (nearest)."""
    from PIL import Image

    a = np.asarray(pixels, dtype=np.uint8)
    factor = max(1, round(size / max(a.shape[:2])))
    a = np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(a).save(buffer, format="PNG")
    return buffer.getvalue()
