"""The doctor's HTML page: findings first (most severe first), the plan, then the plots.

One self-contained file: the plots are matplotlib PNGs embedded as base64, so the page can
be mailed, attached to a run, or linked from the lifecycle report.
"""

from __future__ import annotations

import base64
import io
import json
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dlstack.doctor.report import Report

__all__ = ["figures", "render"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2em auto;
color:#222;line-height:1.45;padding:0 1em}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.verdict{font-size:1.15em;padding:.6em 1em;border-radius:6px;margin:1em 0}
.ok{background:#e7f6ea}.bad{background:#fdecea}
.finding{border-left:5px solid #999;padding:.4em 1em;margin:1em 0;background:#fafafa}
.error{border-color:#c62828}.warning{border-color:#ef8f00}.info{border-color:#7a8fa6}
.sev{font-weight:bold;text-transform:uppercase;font-size:.8em;margin-right:.5em}
.error .sev{color:#c62828}.warning .sev{color:#b26a00}.info .sev{color:#4b6075}
code{background:#eef;padding:0 .25em;border-radius:3px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .6em;
text-align:left;vertical-align:top;font-size:.92em}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%} details{margin:.5em 0} .muted{color:#666}
"""


def render(report: Report) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>dlstack doctor"
        f"</title><style>{_CSS}</style></head><body><h1>dlstack doctor</h1>"
    ]
    s = report.settings
    parts.append(
        f"<p class='muted'>task {escape(str(s.get('task')))}, loss "
        f"{escape(str(s.get('loss')))}, optimizer {escape(str(s.get('optimizer')))} "
        f"lr {escape(str(s.get('lr')))}, budget {escape(str(s.get('budget_s')))} s, "
        f"took {report.seconds.get('total', 0):.1f} s</p>"
    )
    cls = "ok" if report.healthy else "bad"
    parts.append(f"<div class='verdict {cls}'>{escape(report.summary().splitlines()[0])}</div>")
    parts.append("<h2>Findings</h2>")
    ranked = report.ranked()
    active = [f for f in ranked if f.severity != "info"]
    if not active:
        parts.append("<p>No errors or warnings.</p>")
    for f in active:
        parts.append(_finding(f))
    notes = [f for f in ranked if f.severity == "info"]
    if notes:
        parts.append(
            "<details><summary>Notes and checks that did not apply "
            f"({len(notes)})</summary>" + "".join(_finding(f) for f in notes) + "</details>"
        )
    parts.append("<h2>Plan</h2><ol>")
    for step in report.plan:
        codes = ", ".join(f"<code>{escape(c)}</code>" for c in step.codes)
        actions = "".join(f"<li>{escape(a)}</li>" for a in step.actions)
        parts.append(f"<li><b>{escape(step.title)}</b> {codes}<ul>{actions}</ul></li>")
    parts.append("</ol>")
    if report.bias_variance is not None:
        parts.append("<h2>Bias-variance decomposition</h2>" + _bv_table(report))
    if report.skipped:
        parts.append(
            "<p class='muted'>Skipped: " + "; ".join(escape(s) for s in report.skipped) + "</p>"
        )
    figs = figures(report)
    if figs:
        parts.append("<h2>Evidence</h2>")
        for title, fig in figs:
            parts.append(
                f"<h3>{escape(title)}</h3><img alt='{escape(title)}' "
                f"src='data:image/png;base64,{_png(fig)}'>"
            )
    parts.append(
        "<h2>Settings and timings</h2>" + _kv({**report.settings, "seconds": report.seconds})
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _finding(f: Any) -> str:
    causes = "".join(f"<li>{escape(c)}</li>" for c in f.causes)
    return (
        f"<div class='finding {f.severity}'><span class='sev'>{f.severity}</span>"
        f"<code>{escape(f.code)}</code> {escape(f.title)}"
        + (f"<div><b>Next:</b> {escape(f.next_step)}</div>" if f.next_step else "")
        + (f"<div><b>Likely causes:</b><ul>{causes}</ul></div>" if causes else "")
        + (f"<details><summary>Evidence</summary>{_kv(f.evidence)}</details>" if f.evidence else "")
        + "</div>"
    )


def _kv(d: dict[str, Any]) -> str:
    rows = []
    for k, v in d.items():
        if isinstance(v, float):
            text = f"{v:.4g}"
        elif isinstance(v, (dict, list)):
            text = json.dumps(v, default=str)
            text = text if len(text) < 600 else text[:600] + " ..."
        else:
            text = str(v)
        rows.append(f"<tr><th>{escape(str(k))}</th><td>{escape(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _bv_table(report: Report) -> str:
    assert report.bias_variance is not None
    rows = []
    for name, value, how in report.bias_variance.rows():
        shown = "n/a" if value is None else f"{value:.2%}"
        rows.append(
            f"<tr><td>{escape(name)}</td><td class='num'>{shown}</td>"
            f"<td class='muted'>{escape(how)}</td></tr>"
        )
    return "<table><tr><th></th><th>value</th><th></th></tr>" + "".join(rows) + "</table>"


def _png(fig: Figure) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figures(report: Report) -> list[tuple[str, Figure]]:
    """The evidence plots that the report has data for, in the practice's order."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    out = []
    if report.overfit and report.overfit.get("losses"):
        out.append(("Overfitting a single batch", _overfit_fig(report.overfit)))
    if report.lr_range and report.lr_range.get("lrs"):
        out.append(("Learning-rate range test", _lr_fig(report.lr_range, report.settings)))
    if report.bias_variance is not None:
        out.append(("Bias-variance decomposition", _bv_fig(report)))
    return out


def _overfit_fig(o: dict[str, Any]) -> Figure:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
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
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
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


def _bv_fig(report: Report) -> Figure:
    import matplotlib.pyplot as plt

    assert report.bias_variance is not None
    rows = [(n, v) for n, v, _ in report.bias_variance.rows() if v is not None]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    colors = ["#4b6075" if n.endswith("error") else "#ef8f00" for n, _ in rows]
    bars = ax.barh([n for n, _ in rows][::-1], [v for _, v in rows][::-1], color=colors[::-1])
    ax.bar_label(bars, labels=[f"{v:.1%}" for _, v in rows][::-1], fontsize=8, padding=2)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.margins(x=0.12)
    ax.set_xlabel("error (blue: measured, orange: component)")
    return fig
