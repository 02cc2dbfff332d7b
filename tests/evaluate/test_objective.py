"""One objective: parsing, ranking with constraints, the operating threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from dlstack.config import MetricConfig, parse_config
from dlstack.errors import ConfigError, DataError
from dlstack.evaluate import Objective, choose_threshold, lower_is_better

CANDIDATES = {
    # name: metrics; "fast" has the best recall but misses the precision floor.
    "fast": {"recall": 0.97, "precision": 0.85, "latency_p95_ms": 8.0},
    "balanced": {"recall": 0.93, "precision": 0.91, "latency_p95_ms": 12.0},
    "careful": {"recall": 0.90, "precision": 0.95, "latency_p95_ms": 18.0},
    "slow": {"recall": 0.99, "precision": 0.97, "latency_p95_ms": 45.0},
    "worst": {"recall": 0.99, "precision": 0.50, "latency_p95_ms": 90.0},
}


def test_threshold_n_minus_1_ranks_violators_below_every_feasible_candidate() -> None:
    obj = Objective.parse("recall", ["precision >= 0.9", "latency_p95_ms <= 20"])
    ranked = obj.rank(CANDIDATES)
    names = [r.name for r in ranked]
    # Feasible ones first, by recall; then violators, fewest violations first.
    assert names[:2] == ["balanced", "careful"]
    assert all(r.score.feasible for r in ranked[:2])
    assert not any(r.score.feasible for r in ranked[2:])
    assert names[2:] == ["fast", "slow", "worst"]  # one violation each, then two
    # The violated constraint is named, with what was measured.
    slow = next(r for r in ranked if r.name == "slow")
    assert [v.text for v in slow.score.violations] == ["latency_p95_ms <= 20"]
    assert "measured 45" in str(slow.score.violations[0])
    worst = ranked[-1].score
    assert {v.text for v in worst.violations} == {"precision >= 0.9", "latency_p95_ms <= 20"}
    assert obj.best(CANDIDATES).name == "balanced"


def test_weighted_average_is_maximized_and_may_have_constraints() -> None:
    obj = Objective.parse(objective="0.7*recall + 0.3*precision")
    assert obj.kind == "weighted" and obj.maximize
    value = obj.value(CANDIDATES["careful"])
    assert value == pytest.approx(0.7 * 0.90 + 0.3 * 0.95)
    assert obj.best(CANDIDATES).name == "slow"  # 0.984: best weighted score, no constraints
    with_sla = Objective.parse(
        objective="0.7*recall + 0.3*precision", constraints=["latency_p95_ms <= 20"]
    )
    assert with_sla.best(CANDIDATES).name == "fast"  # slow and worst now violate


def test_lower_is_better_metrics_are_minimized() -> None:
    assert lower_is_better("latency_p95_ms") and lower_is_better("calibration_error")
    assert lower_is_better("cer") and not lower_is_better("recall[7]")
    obj = Objective.parse("latency_p95_ms", ["recall >= 0.9"])
    assert not obj.maximize
    assert obj.best(CANDIDATES).name == "fast"
    # direction overrides the guess
    assert Objective.parse("latency_p95_ms", direction="max").best(CANDIDATES).name == "worst"


def test_monitor_value_orders_candidates_like_rank() -> None:
    # Lightning's checkpoint callback needs one float, higher better: same order as rank.
    obj = Objective.parse("recall", ["precision >= 0.9", "latency_p95_ms <= 20"])
    by_rank = [r.name for r in obj.rank(CANDIDATES)]
    by_monitor = sorted(CANDIDATES, key=lambda n: -obj.score(CANDIDATES[n]).monitor_value)
    assert by_monitor == by_rank


def test_missing_constraint_metric_is_unchecked_but_missing_objective_metric_is_an_error() -> None:
    obj = Objective.parse("recall", ["latency_p95_ms <= 20"])
    score = obj.score({"recall": 0.9})  # a checkpoint has no latency yet
    assert score.feasible and score.unchecked == ("latency_p95_ms <= 20",)
    with pytest.raises(DataError, match="needs recall"):
        obj.score({"precision": 0.9})


def test_formulas_percentages_brackets_and_parentheses() -> None:
    obj = Objective.parse(objective="(recall[7] + recall[1]) / 2 - 0.01 * latency_p95_ms")
    assert obj.metrics == ["recall[7]", "recall[1]", "latency_p95_ms"]
    assert obj.value({"recall[7]": 0.9, "recall[1]": 0.8, "latency_p95_ms": 10}) == pytest.approx(
        0.75
    )
    c = Objective.parse("accuracy", ["precision >= 90%"]).constraints[0]
    assert c.check({"precision": 0.91})[0] and not c.check({"precision": 0.89})[0]
    assert math.isnan(
        Objective.parse(objective="recall / precision").value({"recall": 0.0, "precision": 0.0})
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimize": "recall +"}, "expected a metric name, a number or '\\(' at position 9"),
        (
            {"objective": "0.7*recall 0.3*precision"},
            "expected an operator .* position 12, got '0.3'",
        ),
        ({"optimize": "recall $ 2"}, "unexpected '\\$' at position 8"),
        ({"optimize": "0.5"}, "names no metric"),
        ({"optimize": "(recall"}, "expected '\\)'"),
        ({"constraints": ["precision 0.9"]}, "exactly one comparison"),
        ({"constraints": ["precision = 0.9"]}, "'=' at position 11 is not allowed; use >= or <="),
        ({"constraints": ["precision =>0.9"]}, "use >="),
        ({"constraints": ["precision >="]}, "expected a bound"),
    ],
)
def test_parse_errors_name_the_token_and_what_was_expected(kwargs, message) -> None:
    optimize = kwargs.pop("optimize", "accuracy")
    with pytest.raises(ConfigError, match=message):
        Objective.parse(optimize, **kwargs)


def test_config_validates_the_metric_section_at_load_time() -> None:
    cfg = parse_config(
        '[metric]\noptimize = "recall"\nconstraints = ["precision >= 0.9"]\nrequirement = 0.99\n'
    )
    assert (
        Objective.from_config(cfg.metric).describe()
        == "maximize recall subject to precision >= 0.9"
    )
    with pytest.raises(ConfigError, match=r"metric.constraints item 2 'recall >> 1'"):
        parse_config('[metric]\nconstraints = ["precision >= 0.9", "recall >> 1"]\n')
    with pytest.raises(ConfigError, match="both set; keep one"):
        parse_config('[metric]\noptimize = "recall"\nobjective = "0.5*recall + 0.5*precision"\n')
    # the defaults: accuracy, maximized, no constraints
    assert Objective.from_config(MetricConfig()).describe() == "maximize accuracy"


def _brute_force(y: np.ndarray, s: np.ndarray, min_precision: float) -> tuple[float, float]:
    """Best recall at precision >= min_precision over every distinct score (sklearn)."""
    best = (-1.0, math.inf)
    for t in sorted(set(s.tolist()), reverse=True):
        pred = s >= t
        precision = skm.precision_score(y, pred, zero_division=1)
        recall = skm.recall_score(y, pred)
        if precision >= min_precision and recall > best[0]:
            best = (recall, t)
    return best


@pytest.mark.parametrize("seed", range(3))
def test_threshold_is_the_best_recall_at_precision_floor_like_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 400)
    # float32, as a model's probabilities are (the threshold is one of them)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).round(3).astype(np.float32)
    choice = choose_threshold(y, s, Objective.parse("recall", ["precision >= 0.8"]))
    recall, threshold = _brute_force(y, s, 0.8)
    assert choice.score.feasible
    assert choice.metrics["recall"] == pytest.approx(recall, abs=1e-6)
    assert choice.threshold == pytest.approx(threshold, abs=1e-6)
    # the chosen point is on the PR curve that is drawn
    pred = s >= choice.threshold
    assert choice.metrics["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-6)
    assert choice.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-6)
    on_curve = np.isclose(choice.pr.x, choice.point[0]) & np.isclose(choice.pr.y, choice.point[1])
    assert on_curve.any()


def test_threshold_one_vs_rest_and_an_unreachable_constraint_is_named() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    probs = rng.dirichlet(np.ones(3), 300)  # scores carry no information
    choice = choose_threshold(
        y,
        probs,
        Objective.parse("recall", ["precision >= 0.99", "recall >= 0.5"]),
        positive=2,
        classes=("a", "b", "c"),
    )
    assert choice.positive_label == "c"
    assert not choice.score.feasible  # no threshold gives both on random scores
    # the closest threshold still names what it violates
    assert {v.text for v in choice.score.violations} <= {"precision >= 0.99", "recall >= 0.5"}
    assert len(choice.score.violations) == 1
