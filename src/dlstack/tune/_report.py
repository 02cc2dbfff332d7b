"""The study's report.html: the best trial and how to retrain it, the objective over trials
with the best so far, parameter importances, the objective against each parameter, the
ranges of each coarse-to-fine round, every trial (pruned and failed ones marked), and the
manual runs beside them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dlstack.config import Project
from dlstack.records import write_record
from dlstack.report import HtmlReport, figure_png, plot_text
from dlstack.tune._record import REPORT_FILE, RESULT_FILE, TuneResult, study_dir

__all__ = ["write_report", "write_result"]

_COLORS = {"COMPLETE": "#0969da", "PRUNED": "#bf8700", "FAIL": "#cf222e"}


def write_result(project: Project, result: TuneResult) -> Path:
    """result.json and report.html into the study's folder; returns the folder."""
    folder = study_dir(project, result.study)
    write_record(folder / RESULT_FILE, result)
    write_report(result, folder / REPORT_FILE)
    return folder


def write_report(result: TuneResult, path: Path) -> Path:
    report = HtmlReport(
        f"Tuning: {result.study}",
        f"{result.strategy} search, {result.trials}/{result.target_trials} trials, "
        f"{result.direction} {result.monitor} (objective: {result.objective})",
    )
    best = report.section("Best trial")
    if result.best is None:
        best.paragraph("No trial completed yet.", kind="warn")
    else:
        b = result.best
        best.key_values(
            {
                "trial": b["number"],
                result.monitor: f"{b['value']:.4f}",
                **{k: _fmt(v) for k, v in b["params"].items()},
                "run": b.get("run_id") or "",
            }
        )
        best.paragraph(
            f"Retrain it with the full [train] settings: dlstack train --from-trial "
            f"{b['number']} --study {result.study}. Export the trial's own run as it is: "
            f"dlstack export --run {b.get('run_id')}.",
            kind="good",
        )
    report.section("Search").key_values(
        {
            "strategy": result.strategy,
            "storage": result.storage,
            "data version": result.data_version[:12],
            "states": ", ".join(f"{k.lower()} {v}" for k, v in sorted(result.states.items())),
            "wall time": f"{result.seconds:.1f} s",
            **{f"space: {k}": v for k, v in result.space.items()},
        }
    )
    if result.rows:
        curves = report.section("Objective over trials")
        curves.image(_over_trials_png(result), alt="objective over trials and best so far")
        curves.image(_against_params_png(result), alt="objective against each parameter")
    if result.importances:
        report.section("Parameter importances").table(
            ["parameter", "importance (fANOVA)"],
            [[k, v] for k, v in result.importances.items()],
        )
    if result.rounds:
        keys = list(result.space)
        report.section("Coarse-to-fine rounds").table(
            ["round", *keys],
            [[i, *(r.get(k, "") for k in keys)] for i, r in enumerate(result.rounds)],
        )
    report.section("Trials").table(
        ["trial", "round", "state", result.monitor, "epochs", "seconds", *result.space, "run"],
        [
            [
                r["number"],
                r["round"],
                _state(r),
                r["value"],
                r["epochs"],
                r["seconds"],
                *(_fmt(r["params"].get(k)) for k in result.space),
                r.get("run_id") or r.get("failure") or "",
            ]
            for r in result.rows
        ],
        row_kinds=[
            "bad" if r["state"] == "FAIL" else "warn" if r["state"] == "PRUNED" else None
            for r in result.rows
        ],
    )
    if result.manual_runs:
        report.section("Manual runs (same data version, same monitor)").table(
            ["run", result.monitor, "epochs", "overrides", "from trial"],
            [
                [m["run_id"], m["value"], m["epochs"], _fmt(m["overrides"]) or "-", m["from_trial"]]
                for m in result.manual_runs
            ],
        )
    return report.write(path)


def _state(row: dict[str, Any]) -> str:
    if row["state"] == "PRUNED" and row.get("pruned_at_epoch"):
        return f"pruned (epoch {row['pruned_at_epoch']})"
    return str(row["state"]).lower()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _scored(result: TuneResult) -> list[dict[str, Any]]:
    return [r for r in result.rows if r["value"] is not None and math.isfinite(r["value"])]


def _over_trials_png(result: TuneResult) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    rows = _scored(result)
    for state, color in _COLORS.items():
        pts = [r for r in rows if r["state"] == state]
        if pts:
            ax.scatter(
                [r["number"] for r in pts],
                [r["value"] for r in pts],
                c=color,
                s=22,
                marker="x" if state == "PRUNED" else "o",
                label=state.lower(),
            )
    best, xs, ys = None, [], []
    sign = 1 if result.direction == "maximize" else -1
    for r in sorted((r for r in rows if r["state"] == "COMPLETE"), key=lambda r: r["number"]):
        if best is None or sign * r["value"] > sign * best:
            best = r["value"]
        xs.append(r["number"])
        ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="#1a7f37", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(plot_text(result.monitor))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def _against_params_png(result: TuneResult) -> bytes:
    from matplotlib.figure import Figure

    keys = list(result.space)
    fig = Figure(figsize=(3.2 * max(1, len(keys)), 3.2))
    axes = fig.subplots(1, max(1, len(keys)), squeeze=False)[0]
    rows = _scored(result)
    for ax, key in zip(axes, keys, strict=False):
        pts = [r for r in rows if key in r["params"]]
        values = [r["params"][key] for r in pts]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        xs = values if numeric else [str(v) for v in values]
        colors = [_COLORS.get(r["state"], "#8c959f") for r in pts]
        ax.scatter(xs, [r["value"] for r in pts], c=colors, s=18)
        if numeric and "log" in result.space[key]:
            ax.set_xscale("log")
        ax.set_xlabel(plot_text(key))
        ax.set_ylabel(plot_text(result.monitor))
    fig.tight_layout()
    return figure_png(fig)
