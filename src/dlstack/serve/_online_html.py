"""The monitor report's "Online accuracy" section: per window, a table and a plot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlstack.serve._online import OnlineAccuracy

if TYPE_CHECKING:
    from dlstack.report import HtmlReport

__all__ = ["online_section"]


def online_section(html: HtmlReport, online: OnlineAccuracy) -> None:
    """The monitor report's "Online accuracy" section: the table per window and a plot."""
    s = html.section("Online accuracy")
    acc, offline = online.accuracy, online.offline
    worse = acc is None or (offline is not None and acc < offline)
    s.paragraph(online.describe() + ".", kind="warn" if worse else "info")
    if not online.windows:
        return
    s.table(
        ["served in", "served", "labeled", "correct", "accuracy"],
        [
            [online.window_label(w), w.served, w.labeled, w.correct, w.accuracy]
            for w in online.windows
        ],
    )
    s.image(_accuracy_png(online), alt="online accuracy per window")


def _accuracy_png(online: OnlineAccuracy) -> bytes:
    from matplotlib.figure import Figure

    from dlstack.report import figure_png

    fig = Figure(figsize=(8, 3.4))
    ax = fig.subplots()
    x = list(range(len(online.windows)))
    ax.plot(
        x, [w.correct / w.labeled for w in online.windows], "o-", color="#0969da", label="online"
    )
    if online.offline is not None:
        ax.axhline(online.offline, color="#8c959f", ls="--", label="test split")
    for i, w in enumerate(online.windows):
        ax.annotate(
            f"n={w.labeled}",
            (i, w.correct / w.labeled),
            fontsize=7,
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
        )
    ax.set_xticks(
        x,
        [online.window_label(w) for w in online.windows],
        rotation=30,
        ha="right",
        fontsize=7,
    )
    ax.set_ylim(0, 1.1)  # room for the n= labels above 100%
    ax.set_ylabel("accuracy (people's labels)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_png(fig)
