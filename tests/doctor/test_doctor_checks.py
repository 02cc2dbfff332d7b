"""The doctor's pieces, one at a time, against hand-made inputs with known answers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dlstack.doctor._findings import CATALOG, STEPS, make, sort_key
from dlstack.doctor._label_noise import confident_issues
from dlstack.doctor._lr_range import LRRangeResult, _suggest
from dlstack.doctor._overfit import classify
from dlstack.doctor._plan import PLAN, make_plan
from dlstack.doctor._problem import _edit_distance, ctc, loss_for, make_problem


def test_catalog_is_the_issue_s_catalog():
    expected = {
        "wont-run",
        "shape-broadcast",
        "input-dtype",
        "input-scale",
        "nan-inf",
        "softmax-before-loss",
        "train-eval-mode",
        "no-grad-flow",
        "bad-init-loss",
        "overfit-error-up",
        "overfit-explodes",
        "overfit-oscillates",
        "overfit-plateau",
        "lr-too-high",
        "lr-too-low",
        "label-noise",
        "class-imbalance",
        "worse-than-baseline",
        "underfitting",
        "overfitting",
        "distribution-shift",
        "val-overfitting",
        "ctc-too-few-frames",
        "ctc-blank-plateau",
    }
    assert set(CATALOG) == expected
    # every code has causes, a next step, a known step, and a place in the plan
    planned = {c for _, codes, _ in PLAN for c in codes}
    for code, info in CATALOG.items():
        assert info.causes and info.next_step and info.step in STEPS, code
        assert code in planned, code


def test_findings_sort_most_severe_first_then_practice_order():
    fs = [
        make("class-imbalance", "a"),
        make("overfitting", "b"),
        make("wont-run", "c"),
        make("input-scale", "d", severity="info"),
    ]
    assert [f.code for f in sorted(fs, key=sort_key)] == [
        "wont-run",
        "overfitting",
        "class-imbalance",
        "input-scale",
    ]


def test_plan_follows_the_practice_order():
    plan = make_plan(
        [
            make("class-imbalance", "x"),
            make("distribution-shift", "x"),
            make("overfitting", "x"),
            make("underfitting", "x"),
            make("input-scale", "y", severity="info"),
        ]
    )
    # under-fitting, then over-fitting, then shift, then re-balance; info notes add nothing
    assert [s.title for s in plan] == [
        "Address under-fitting",
        "Address over-fitting",
        "Address distribution shift",
        "Re-balance the datasets",
    ]
    assert "make the model bigger (more layers, more units per layer)" in plan[0].actions


@pytest.mark.parametrize(
    ("losses", "errors", "verdict"),
    [
        ([2.3 + 0.5 * i for i in range(100)], [0.9] * 100, "error-up"),
        ([2.3 - 0.01 * i for i in range(50)] + [float("nan")], [0.5] * 51, "explodes"),
        ([2.3] + [1e5] * 10, [0.9] * 11, "explodes"),
        ([2.3 - 0.1 * i for i in range(200)], [0.9] * 100 + [1.0] * 100, "error-up"),
        ([2.3 + (0.8 if i % 2 else 0.0) for i in range(200)], [0.5] * 200, "oscillates"),
        ([2.3 - 0.0001 * i for i in range(200)], [0.9] * 200, "plateau"),
    ],
)
def test_classify_single_batch_failures(losses, errors, verdict):
    nonfinite = {"where": "loss", "step": 50} if any(math.isnan(v) for v in losses) else None
    assert classify(losses, errors, nonfinite, "multiclass")[0] == verdict


def test_classify_cut_by_time_while_falling_is_inconclusive():
    losses = [2.3 * 0.99**i for i in range(150)]
    assert classify(losses, [0.5] * 150, None, "multiclass", cut=True)[0] == "inconclusive"


def test_confident_issues_matches_hand_computation():
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.7, 0.3], [0.3, 0.7]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    issue, preferred, t = confident_issues(probs, labels)
    # thresholds: mean p(class j) over examples labeled j
    assert torch.allclose(t, torch.tensor([0.85, (0.8 + 0.3 + 0.7) / 3]))
    # example 3 is labeled 1 but p(0)=0.7 clears class 0's threshold? no (0.7 < 0.85);
    # p(1)=0.3 is below class 1's threshold 0.6 too: not an issue. Nothing else disagrees.
    assert issue.tolist() == [False, False, False, False, False]
    issue, preferred, _ = confident_issues(torch.tensor([[0.95, 0.05]]), torch.tensor([1]), t)
    assert issue.tolist() == [True] and preferred.tolist() == [0]


def test_lr_suggestions_on_a_textbook_curve():
    lrs = [1e-7 * (10**8) ** (i / 99) for i in range(100)]
    # flat, then falling fastest around 1e-3, lowest at ~1e-1, then diverging
    loss = [2.3 - 2.0 / (1 + math.exp(-2 * (math.log10(lr) + 3))) for lr in lrs]
    loss = [v + (0 if lr < 0.1 else 50 * (lr - 0.1)) for v, lr in zip(loss, lrs, strict=True)]
    r = LRRangeResult(lrs=lrs, losses=loss, smoothed=loss)
    _suggest(r)
    assert r.lr_steepest is not None and 3e-4 < r.lr_steepest < 3e-3
    assert r.lr_min_loss is not None and 3e-2 < r.lr_min_loss < 0.3
    assert r.suggested == pytest.approx(r.lr_min_loss / 10)


def test_lr_no_suggestion_when_the_loss_never_falls():
    r = LRRangeResult(
        lrs=[10**-i for i in range(20, 0, -1)], losses=[2.3] * 20, smoothed=[2.3] * 20
    )
    _suggest(r)
    assert r.suggested is None


def test_problem_facts_for_known_losses():
    out, y = torch.randn(4, 10), torch.randint(0, 10, (4,))
    fn, name, user = loss_for("classification", None)
    p = make_problem("classification", fn, name, user, out, y)
    assert p.kind == "multiclass" and p.chance_loss == pytest.approx(math.log(10))
    p = make_problem(
        "classification", torch.nn.CrossEntropyLoss(label_smoothing=0.1), "ls", True, out, y
    )
    assert p.loss_floor is None  # smoothing: a perfect fit does not reach 0
    p = make_problem(
        "classification", torch.nn.MSELoss(), "mse", True, torch.randn(4, 1), torch.randn(4, 1)
    )
    assert p.kind == "regression" and p.chance_loss is None


def test_ctc_default_matches_torch_and_edit_distance():
    out = torch.randn(2, 6, 5)  # (N, T, C)
    y = torch.tensor([[1, 2, 0], [3, 3, 4]])
    ref = F.ctc_loss(
        out.transpose(0, 1).log_softmax(-1), y, torch.tensor([6, 6]), torch.tensor([2, 3])
    )
    assert torch.allclose(ctc(out, y), ref)
    assert _edit_distance([1, 2, 3], [1, 3]) == 1
    assert _edit_distance([], [1, 2]) == 2
    assert _edit_distance([4, 5], [4, 5]) == 0
