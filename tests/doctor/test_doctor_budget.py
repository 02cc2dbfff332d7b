"""Step budgets: the same seed gives the same verdicts on an idle and a busy machine, and
a check the time cap cuts short says so instead of concluding from half a curve."""

from __future__ import annotations

import multiprocessing
import time

import pytest
import torch
from torch import nn

from dlstack.doctor import Report, examine
from dlstack.doctor._context import MAX_TRAIN_STEPS, plan_steps
from dlstack.doctor._findings import make, not_applicable

GENEROUS = {"budget_s": 60, "lr": 3e-3}  # an outer cap that a busy machine never reaches


def _verdicts(report: Report) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for f in report.findings]


def _spin() -> None:
    while True:  # a CPU hog: pure Python, no torch
        pass


def test_plan_is_in_steps_from_data_and_model_size():
    # the plan is a function of the data and the model's multiply-adds, nothing else
    small = plan_steps(600, 64, 5_000)
    assert small == plan_steps(600, 64, 5_000)
    assert small.training == MAX_TRAIN_STEPS and small.lr_range == 100
    # a tiny train set gets at most MAX_EPOCHS passes, a heavy model fewer steps
    assert plan_steps(40, 64, 5_000).training == 300
    heavy = plan_steps(4000, 64, 16_500_000)  # dlstack's LeNet on 28x28 digits
    assert 300 <= heavy.training < MAX_TRAIN_STEPS
    assert plan_steps(4000, 64, 1_650_000).training > heavy.training  # 10x lighter


def test_same_findings_on_an_idle_and_a_busy_machine(blobs, small_mlp):
    idle = examine(small_mlp, *blobs, **GENEROUS)
    ctx = multiprocessing.get_context("fork")
    hogs = [ctx.Process(target=_spin, daemon=True) for _ in range(3)]
    for p in hogs:
        p.start()
    try:
        busy = examine(small_mlp, *blobs, **GENEROUS)
    finally:
        for p in hogs:
            p.kill()
            p.join()
    # the verdicts, and the evidence they rest on, do not depend on the machine's load
    assert _verdicts(idle) == _verdicts(busy), (idle.summary(), busy.summary())
    assert idle.settings["steps"] == busy.settings["steps"]
    assert idle.overfit["losses"] == busy.overfit["losses"]
    assert idle.evidence["training"]["steps"] == busy.evidence["training"]["steps"]
    assert idle.evidence["label_noise"] == busy.evidence["label_noise"]
    assert not busy.skipped  # nothing was cut: the cap is far away


class _Slow(nn.Module):
    """A small MLP whose every training step takes 50 ms (its first checks, without
    gradients, are quick): the time cap is hit during the single-batch test."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Sigmoid(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            time.sleep(0.05)
        return self.net(x)


def test_a_check_cut_by_the_time_cap_is_info_not_a_verdict(blobs, tmp_path):
    report = examine(_Slow(), *blobs, budget_s=3.0, lr=1e-4)
    cut = [f for f in report.findings if f.evidence.get("check") == "single-batch test"]
    # the single-batch test ran out of time: no plateau/underfitting verdict from it
    assert cut and cut[0].severity == "info", report.summary()
    assert "cut short by the time cap" in cut[0].title and "of 1000 steps" in cut[0].title
    assert cut[0].next_step.startswith("rerun with budget_s=")
    assert not report.codes, report.summary()
    assert report.overfit["verdict"] == "inconclusive"
    # the checks after it are reported as not run, with what they would need
    assert any(line.startswith("learning-rate range test:") for line in report.skipped)
    assert all("rerun with budget_s=" in line for line in report.skipped)
    assert report.lr_range is not None and report.lr_range["complete"] is False
    assert report.lr_range["suggested"] is None  # no suggestion from a partial sweep
    # the verdict says what was not checked; the page does not draw the partial sweep
    assert report.verdict().startswith("healthy as far as checked: skipped single-batch test")
    html = report.to_html(tmp_path / "r.html").read_text()
    assert "healthy as far as checked" in html and "Learning-rate range test" not in html


def test_lr_sweep_cut_short_is_never_plotted(blobs, small_mlp, monkeypatch, tmp_path):
    from dlstack.doctor import _context

    calls = {"n": 0}

    def spent(self: _context.Budget) -> bool:  # the cap hits in the middle of the sweep
        calls["n"] += 1
        return stage["lr"] and calls["n"] > 30

    stage = {"lr": False}
    from dlstack.doctor import _lr_range

    real = _lr_range.lr_range_test

    def sweep(ctx):  # type: ignore[no-untyped-def]
        stage["lr"], calls["n"] = True, 0
        try:
            return real(ctx)
        finally:
            stage["lr"] = False

    monkeypatch.setattr(_context.Budget, "spent", spent)
    monkeypatch.setattr("dlstack.doctor._runner.lr_range_test", sweep)
    report = examine(small_mlp, *blobs, **GENEROUS)
    assert report.lr_range["complete"] is False and report.lr_range["steps"] == 30
    note = [f for f in report.findings if f.evidence.get("check") == "learning-rate range test"]
    assert note and note[0].severity == "info" and "after 30 of 100 steps" in note[0].title
    html = report.to_html(tmp_path / "r.html").read_text()
    # overfit curve and bias-variance bars, no lr curve
    assert html.count("data:image/png;base64") == 2
    assert "Learning-rate range test" not in html


def test_healthy_verdict_names_the_skipped_checks(blobs, small_mlp):
    report = examine(small_mlp, *blobs, **GENEROUS)
    # no test data: the two checks that need it are named in the verdict line
    assert report.healthy
    assert report.summary().splitlines()[0] == (
        "healthy as far as checked: skipped distribution-shift, val-overfitting"
    )
    full = Report([make("class-imbalance", "x", severity="info")])
    assert full.verdict() == "healthy: no errors or warnings"
    partial = Report([not_applicable("label-noise", "too few examples")], skipped=["x: y"])
    assert partial.verdict() == "healthy as far as checked: skipped x, label-noise"


@pytest.mark.parametrize("budget", [0.05])
def test_a_tiny_budget_skips_the_trainings_and_says_so(blobs, small_mlp, budget):
    report = examine(small_mlp, *blobs, budget_s=budget, lr=3e-3)
    # whatever ran, nothing concluded from a training the cap cut
    assert not report.codes, report.summary()
    assert report.skipped and all("budget_s=" in s for s in report.skipped)
