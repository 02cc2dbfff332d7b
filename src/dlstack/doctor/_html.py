"""The doctor's HTML page, built with :mod:`dlstack.report`: the verdict, findings (most
severe first), the plan, then the evidence plots and the settings.

One self-contained file (plots are PNGs embedded by the report kit), so the page can be
mailed, attached to a run, or linked from the lifecycle report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.report import HtmlReport, Kind, Section, figure_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dlstack.doctor._bias_variance import BiasVariance
    from dlstack.doctor._findings import Finding
    from dlstack.doctor._plan import PlanStep

__all__ = ["write_html"]

_KIND: dict[str, Kind] = {"error": "bad", "warning": "warn", "info": "info"}


def write_html(
    path: str | Path,
    *,
    verdict: str,
    healthy: bool,
    findings: list[Finding],
    plan: list[PlanStep],
    settings: dict[str, Any],
    seconds: dict[str, float],
    skipped: list[str],
    bias_variance: BiasVariance | None,
    overfit: dict[str, Any] | None,
    lr_range: dict[str, Any] | None,
) -> Path:
    """Write the page (atomically) and return its path; ``findings`` come ranked."""
    s = settings
    report = HtmlReport(
        "dlstack doctor",
        f"task {s.get('task')}, loss {s.get('loss')}, optimizer {s.get('optimizer')} "
        f"lr {s.get('lr')}, budget {s.get('budget_s')} s, "
        f"took {seconds.get('total', 0):.1f} s",
    )
    report.section("Verdict").paragraph(verdict, kind="good" if healthy else "bad")
    section = report.section("Findings")
    active = [f for f in findings if f.severity != "info"]
    if not active:
        section.paragraph("No errors or warnings.")
    for f in active:
        _finding(section, f)
    notes = [f for f in findings if f.severity == "info"]
    if notes:
        section = report.section(f"Notes and checks that did not apply ({len(notes)})")
        for f in notes:
            _finding(section, f)
    section = report.section("Plan")
    for i, step in enumerate(plan, 1):
        codes = f" ({', '.join(step.codes)})" if step.codes else ""
        section.bullets(step.actions, title=f"{i}. {step.title}{codes}")
    if bias_variance is not None:
        rows = [
            (name, "n/a" if value is None else f"{value:.2%}", how)
            for name, value, how in bias_variance.rows()
        ]
        section = report.section("Bias-variance decomposition")
        section.table(["", "value", ""], rows)
        for line in skipped:  # a partial training's table is evidence, not a verdict
            if "bias-variance" in line.split(":", 1)[0]:
                section.paragraph(f"Not judged: {line}", kind="warn")
    if skipped:
        report.section("Skipped").bullets(skipped)
    figures = _figures(overfit, lr_range, bias_variance, settings)
    if figures:
        section = report.section("Evidence")
        for title, fig in figures:
            section.image(figure_png(fig), alt=title, caption=title)
    report.section("Settings and timings").key_values(
        {k: _text(v) for k, v in {**settings, "seconds": seconds}.items()}
    )
    return report.write(path)


def _finding(section: Section, f: Finding) -> None:
    section.paragraph(f"{f.severity.upper()} {f.code}: {f.title}", kind=_KIND[f.severity])
    if f.next_step:
        section.paragraph(f"Next: {f.next_step}")
    if f.causes:
        section.bullets(f.causes, title="Likely causes")
    if f.evidence:
        section.key_values({k: _text(v) for k, v in f.evidence.items()})


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str)
        return text if len(text) < 600 else text[:600] + " ..."
    return str(value)


def _figures(
    overfit: dict[str, Any] | None,
    lr_range: dict[str, Any] | None,
    bias_variance: BiasVariance | None,
    settings: dict[str, Any],
) -> list[tuple[str, Figure]]:
    """The evidence plots there is data for, in the practice's order."""
    out = []
    if overfit and overfit.get("losses"):
        out.append(("Overfitting a single batch", _overfit_fig(overfit)))
    if lr_range and lr_range.get("lrs") and lr_range.get("complete", True):
        # an incomplete sweep is never drawn as if it were one (it is in "Skipped")
        out.append(("Learning-rate range test", _lr_fig(lr_range, settings)))
    if bias_variance is not None:
        out.append(("Bias-variance decomposition", _bv_fig(bias_variance)))
    return out


def _figure() -> tuple[Figure, Any]:
    from matplotlib.figure import Figure  # no pyplot: no global backend, nothing to close

    fig = Figure(figsize=(7, 3.2))
    return fig, fig.add_subplot()


def _overfit_fig(o: dict[str, Any]) -> Figure:
    fig, ax = _figure()
    values: list[float] = []
    for run in [o, *([o["retry"]] if o.get("retry") else [])]:
        losses = [v if v is not None else float("nan") for v in run["losses"]]
        values += [v for v in losses if v == v]
        ax.plot(losses, label=f"loss at lr {run['lr']:.2g} ({run['verdict']})")
    if values and min(values) > 0 and max(values) / min(values) > 50:
        ax.set_yscale("log")  # an exploding or vanishing loss stays readable
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(o["errors"], color="gray", alpha=0.5, linestyle="--", label="error on the batch")
    ax2.set_ylabel("error on the batch")
    ax2.set_ylim(-0.02, 1.02)
    lines = ax.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize=8)
    return fig


def _lr_fig(r: dict[str, Any], settings: dict[str, Any]) -> Figure:
    fig, ax = _figure()
    ax.plot(r["lrs"], r["smoothed"], label="smoothed loss")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    marks = [
        ("lr in use", settings.get("lr"), "black"),
        ("suggested", r.get("suggested"), "green"),
        ("diverged", r.get("lr_diverge"), "red"),
    ]
    for label, x, color in marks:
        if x:
            ax.axvline(x, color=color, linestyle=":", label=f"{label} {x:.2g}")
    finite = [v for v in r["smoothed"] if v is not None]
    if finite:
        ax.set_ylim(
            min(finite) * 0.9 if min(finite) > 0 else min(finite) - 0.1,
            min(max(finite), 4 * abs(finite[0]) + 1e-8) * 1.05,
        )
    ax.legend(fontsize=8)
    return fig


def _bv_fig(bias_variance: BiasVariance) -> Figure:
    rows = [(n, v) for n, v, _ in bias_variance.rows() if v is not None]
    fig, ax = _figure()
    colors = ["#4b6075" if n.endswith("error") else "#ef8f00" for n, _ in rows]
    bars = ax.barh([n for n, _ in rows][::-1], [v for _, v in rows][::-1], color=colors[::-1])
    ax.bar_label(bars, labels=[f"{v:.1%}" for _, v in rows][::-1], fontsize=8, padding=2)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.margins(x=0.12)
    ax.set_xlabel("error (blue: measured, orange: component)")
    return fig
