"""The feasibility section (`dlstack scope`): the learning curve, its answers, and what
training costs for today's data and for the data the requirement needs.

Reads the dict ``scope.json`` holds (:meth:`ScopeResult.to_dict`), so a report shows the
latest saved result without recomputing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dlstack.report import HtmlReport, Section, duration

__all__ = ["scope_report", "scope_section"]


def scope_section(report: HtmlReport, scope: Mapping[str, Any]) -> Section:
    """The learning curve, its answers, and the compute estimate."""
    from dlstack.evaluate._plots import learning_curve_png

    s = report.section("Feasibility (scope)")
    fit = scope.get("fit")
    s.paragraph(
        f"{scope.get('architecture')} trained on growing subsets of the data "
        f"({scope.get('epochs')} short rounds each), error measured on the "
        f"{scope.get('split')} split."
    )
    s.table(
        ["fraction", "training examples", "error", "training seconds"],
        [
            [f"{p['fraction']:.0%}", p["n_train"], p["error"], duration(p["seconds"])]
            for p in scope["points"]
        ],
    )
    png = learning_curve_png(scope)
    if png is not None:
        s.image(
            png,
            alt="learning curve",
            caption="Measured errors, the fitted power law "
            "err(n) = a·n^-b + c and its band; dashed: the target error. The error axis "
            "spans what was measured and fitted; a floor c far below it is stated in the plot.",
        )
    if fit:
        s.key_values(
            {
                "fit": f"err(n) = {fit['a']:.4g} · n^-{fit['b']:.4f} + {fit['c']:.4g}",
                "irreducible error (c)": f"{fit['c']:.2%}"
                if fit["c"] >= 5e-5
                else f"about 0 (c = {fit['c']:.2g})",
                **{
                    f"with {m['factor']:g}x the data": f"{m['error']:.2%} "
                    f"(band {m['low']:.2%} to {m['high']:.2%})"
                    for m in scope.get("more_data", [])
                },
            }
        )
    needed = scope.get("needed")
    if needed:
        ok = needed.get("reachable")
        s.paragraph(
            f"Requirement: accuracy {scope.get('requirement'):.2%} (error "
            f"{needed['target_error']:.2%}). Data needed: {needed['summary']}.",
            kind="good" if ok else "bad",
        )
    elif scope.get("requirement") is None:
        s.paragraph(
            "No requirement set: add `requirement = 0.99` under [metric] to ask how much "
            "data it would take.",
            kind="info",
        )
    for note in scope.get("notes", []):
        s.paragraph(note, kind="warn")
    compute = scope.get("compute")
    if compute:
        table = compute["table"]
        s.paragraph(
            f"Measured here, on today's train split: "
            f"{duration(compute['seconds_per_epoch_here'])} per epoch of "
            f"{compute['examples_per_epoch']:,} examples ({compute['achieved_tflops_here']:.3f} "
            f"TFLOP/s reached). GPU estimates assume {table['utilization']:.0%} of FP32 peak "
            f"and at least {table['step_overhead_ms']:g} ms per step; prices as of "
            f"{table['as_of']} ({table['path']})."
        )
        s.table(
            ["GPU", "s / epoch", f"{compute['epochs']} epochs", "cost (USD)", "x faster", "bound"],
            [
                [
                    g["name"],
                    duration(g["seconds_per_epoch"]),
                    duration(g["seconds_total"]),
                    f"{g['usd_total']:.4f}",
                    f"{g['speedup']:.1f}",
                    g["bound"],
                ]
                for g in compute["gpus"]
            ],
        )
    needed_compute = scope.get("compute_needed")
    if compute and needed_compute:
        _needed_compute(s, needed_compute)
    return s


def _needed_compute(s: Section, need: Mapping[str, Any]) -> None:
    """The same estimate for the data the requirement needs (the fitted curve's answer)."""

    def usd(value: float | None) -> str:
        return "?" if value is None else f"{value:.4f}"

    band = f"{need['n_low']:,}" if need.get("n_low") else "?"
    band += f" to {need['n_high']:,}" if need.get("n_high") else " to more than any plausible"
    s.paragraph(
        f"For the data the requirement needs, about {need['n_train']:,} training examples "
        f"({need['factor']:,.1f}x today's; band {band}), with the same "
        f"{need['epochs']} epochs: {duration(need['seconds_per_epoch_here'])} per epoch here, "
        f"{duration(need['seconds_total_here'])} in all. The cost band prices both ends of "
        f"the data band ('?': some plausible curves never reach the requirement)."
    )
    s.table(
        ["GPU", "s / epoch", f"{need['epochs']} epochs", "cost (USD)", "cost band (USD)", "bound"],
        [
            [
                g["name"],
                duration(g["seconds_per_epoch"]),
                duration(g["seconds_total"]),
                f"{g['usd_total']:.4f}",
                f"{usd(g.get('usd_low'))} to {usd(g.get('usd_high'))}",
                g["bound"],
            ]
            for g in need["gpus"]
        ],
    )


def scope_report(path: str | Path, scope: Mapping[str, Any], *, project_name: str) -> Path:
    report = HtmlReport(f"{project_name}: feasibility", f"data version {scope.get('data_version')}")
    scope_section(report, scope)
    return report.write(path)
