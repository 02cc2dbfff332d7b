"""Report: self-contained HTML reports (inline CSS, PNGs embedded), shared by every stage.

>>> from dlstack.report import HtmlReport
>>> report = HtmlReport("Scope")
>>> _ = report.section("Plan").paragraph("Start with a baseline <b>first</b>.")
>>> "&lt;b&gt;first&lt;/b&gt;" in report.render()
True

matplotlib and PIL are imported only when a plot is drawn.
"""

from dlstack.records import write_atomic  # for callers not yet on dlstack.records
from dlstack.report._html import HtmlReport, Kind, Section
from dlstack.report._plots import (
    bar_chart_png,
    confusion_matrix_png,
    figure_png,
    image_png,
    plot_text,
    predicted_vs_true_png,
    training_curves_png,
)
from dlstack.report._text import duration

__all__ = [
    "HtmlReport",
    "Kind",
    "Section",
    "bar_chart_png",
    "confusion_matrix_png",
    "duration",
    "figure_png",
    "image_png",
    "plot_text",
    "predicted_vs_true_png",
    "training_curves_png",
    "write_atomic",
]
