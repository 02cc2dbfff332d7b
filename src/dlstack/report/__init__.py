"""Report: self-contained HTML reports (inline CSS, PNGs embedded), shared by every stage.

>>> from dlstack.report import HtmlReport
>>> report = HtmlReport("Scope")
>>> _ = report.section("Plan").paragraph("Start with a baseline <b>first</b>.")
>>> "&lt;b&gt;first&lt;/b&gt;" in report.render()
True

matplotlib and PIL are imported only when a plot is drawn.
"""

from dlstack.report.html import HtmlReport, Section, write_atomic
from dlstack.report.lifecycle import (
    DEFAULT_MAX_MISTAKES,
    SUMMARY_HEADERS,
    beats,
    lifecycle_report,
    summary_rows,
)
from dlstack.report.plots import (
    bar_chart_png,
    confusion_matrix_png,
    figure_png,
    image_png,
    training_curves_png,
)

__all__ = [
    "DEFAULT_MAX_MISTAKES",
    "SUMMARY_HEADERS",
    "HtmlReport",
    "Section",
    "bar_chart_png",
    "beats",
    "confusion_matrix_png",
    "figure_png",
    "image_png",
    "lifecycle_report",
    "summary_rows",
    "training_curves_png",
    "write_atomic",
]
