"""`dlstack scope`'s answers a person reads: a learning-curve axis that shows the data,
and the price of the data the requirement needs (not only of today's)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import typer
from eval_fixtures import ManifestProject
from typer.testing import CliRunner

from dlstack.evaluate import _feasibility as feasibility
from dlstack.evaluate import estimate_compute, load_gpu_table
from dlstack.evaluate._feasibility import ScopePoint, ScopeResult, _answer
from dlstack.evaluate._plots import error_axis_limits, learning_curve_figure
from dlstack.evaluate._scope_result import price_needed

SIZES = [60, 120, 250, 500, 1000]


def _result(c: float, requirement: float | None = 0.97) -> ScopeResult:
    points = [
        ScopePoint(i / 5, n, 2.0 * n**-0.5 + c, 1.0, n, 1) for i, n in enumerate(SIZES, start=1)
    ]
    result = ScopeResult(points, None, "mlp", 1, "val", "v1", requirement, None)
    _answer(result)
    return result


def test_a_floor_near_zero_does_not_set_the_error_axis() -> None:
    scope = _result(0.0).to_dict()
    scope["fit"]["c"] = 8.7e-20  # what curve_fit reports for "no floor" (issue 13)
    bottom, top = error_axis_limits(scope)
    # Half the lowest error drawn (measured, fitted over the plotted range, the 3% target):
    # a few decades of the data, never the twenty down to the floor.
    drawn = [p["error"] for p in scope["points"]] + scope["curve"]["error"] + [0.03]
    assert bottom == pytest.approx(min(drawn) / 2) and bottom > 1e-3 and top <= 1.0
    fig = learning_curve_figure(scope)
    ax = fig.axes[0]
    assert ax.get_ylim() == pytest.approx((bottom, top))
    assert math.log10(top / bottom) < 2.5  # was ~19 decades
    said = " ".join(t.get_text() for t in ax.texts)
    assert "8.7e-20" in said and "below this axis" in said  # the floor is said, not drawn


def test_a_real_floor_is_drawn_inside_the_axis() -> None:
    scope = _result(0.02).to_dict()
    bottom, _ = error_axis_limits(scope)
    assert bottom <= scope["fit"]["c"]
    labels = [line.get_label() for line in learning_curve_figure(scope).axes[0].lines]
    assert any(str(label).startswith("irreducible") for label in labels)


def _compute(n_train: int):
    # 1000 examples at 10 s per epoch here, 3 MFLOP per example, 15 epochs.
    return estimate_compute(
        load_gpu_table(),
        seconds_per_epoch=10.0,
        examples_per_epoch=n_train,
        flops_per_example=3e6,
        batch_size=64,
        epochs=15,
    )


def test_the_data_needed_is_priced_like_todays_data() -> None:
    result = _result(0.02)
    assert result.needed is not None and result.needed.n is not None
    need, why = price_needed(_compute(1000), result.needed, 1000)
    assert need is not None and why is None
    n = result.needed.n
    assert need.n_train == round(n) and need.factor == pytest.approx(n / 1000)
    # The reference: the same arithmetic by hand, for n examples per epoch.
    table = load_gpu_table()
    for gpu, row in zip(table.gpus, need.estimate.rows, strict=True):
        compute_s = 3e6 * round(n) / (gpu.tflops_fp32 * 1e12 * table.utilization)
        overhead_s = math.ceil(round(n) / 64) * table.step_overhead_ms / 1000
        seconds = 15 * max(compute_s, overhead_s)
        assert row.seconds_total == pytest.approx(seconds)
        assert row.usd_total == pytest.approx(seconds / 3600 * gpu.usd_per_hour)
    assert need.estimate.seconds_per_epoch == pytest.approx(10.0 * n / 1000)  # here, linear
    # The band's ends are priced too (noise-free points: a narrow band around n).
    assert need.low is not None and result.needed.low is not None
    assert need.low.examples_per_epoch == round(result.needed.low)
    assert need.low.rows[0].usd_total <= need.estimate.rows[0].usd_total


def test_an_unreachable_requirement_is_not_priced_and_says_why() -> None:
    result = _result(0.05, requirement=0.99)  # a floor of 5% error never reaches 1%
    assert result.needed is not None and not result.needed.reachable
    need, why = price_needed(_compute(1000), result.needed, 1000)
    assert need is None and why is not None and "not priced" in why


def _app() -> typer.Typer:
    from dlstack.cli import _evaluate as cli

    app = typer.Typer()
    cli.register(app)
    app.callback()(lambda: None)
    return app


def test_scope_prints_saves_and_reports_the_cost_of_the_data_needed(
    manifest_project: ManifestProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    def measured(snapshot, *, fractions, **_):  # training stubbed: this is about the answers
        points = [
            ScopePoint(f, round(1438 * f), 2.0 * (1438 * f) ** -0.5 + 0.02, 0.2, 2000, 1)
            for f in sorted(fractions)
        ]
        return points, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), (1, 8, 8)

    monkeypatch.setattr(feasibility, "measure_learning_curve", measured)
    root = manifest_project.project.root
    out = CliRunner().invoke(
        _app(),
        [
            "scope",
            "-p",
            str(root),
            "--fractions",
            "0.1,0.2,0.4,0.7,1",
            "-q",
            "--requirement",
            "0.97",
        ],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output + repr(out.exception)
    record = json.loads((root / ".dlstack" / "scope" / "scope.json").read_text())
    need = record["compute_needed"]
    assert need["n_train"] == round(record["needed"]["n"]) and need["gpus"]
    text = " ".join(out.output.split())
    assert f"for the {need['n_train']:,} examples the requirement needs" in text
    assert "USD needed (band)" in text and f"{need['gpus'][0]['usd_total']:.4f}" in text
    html = (root / ".dlstack" / "scope" / "scope.html").read_text()
    assert "For the data the requirement needs" in html
    assert f"{need['gpus'][0]['usd_total']:.4f}" in html
