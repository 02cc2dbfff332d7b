"""The full set of baselines: rules, a neural network, external and human reference points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlstack.config import Config, Project, parse_config
from dlstack.data import Snapshot
from dlstack.errors import ConfigError, DataError
from dlstack.evaluate import Reference, baseline_suite, project_baselines, register_rule
from dlstack.evaluate._rules import digit_features, resolve_rule


def test_suite_on_digits_has_every_kind_in_order(digits8: Snapshot) -> None:
    results = baseline_suite(digits8)
    assert [b.name for b in results] == [
        "majority",
        "rule:digits",
        "logistic_regression",
        "neural_net",
    ]
    acc = {b.name: b.metrics["accuracy"] for b in results}
    # A scripted rule on 8 statistics is far above chance, far below learned models: a
    # baseline that is useful precisely because it is between the two.
    assert 0.35 < acc["rule:digits"] < acc["logistic_regression"]
    assert acc["neural_net"] > 0.9
    n_test = len(digits8.split("test"))
    assert all(b.scores.n == n_test for b in results)  # same split, like for like


def test_digits_rule_only_applies_to_digit_classes() -> None:
    rng = np.random.default_rng(0)
    snap = Snapshot.from_arrays(
        rng.integers(0, 256, (120, 6, 6), dtype=np.uint8), rng.integers(0, 3, 120), ("a", "b", "c")
    )
    names = [b.name for b in baseline_suite(snap, neural_net=False)]
    assert names == ["majority", "logistic_regression"]


def test_digit_features_count_holes() -> None:
    zero = np.zeros((1, 7, 7), np.uint8)
    zero[0, 1:6, 1:6] = 255
    zero[0, 2:5, 2:5] = 0  # a ring: one hole
    eight = np.zeros((1, 9, 7), np.uint8)
    eight[0, 1:8, 1:6] = 255
    eight[0, 2:4, 2:5] = 0
    eight[0, 5:7, 2:5] = 0  # two holes
    one = np.zeros((1, 7, 7), np.uint8)
    one[0, 1:6, 3] = 255
    holes = [digit_features(x)[0, 1] for x in (one, zero, eight)]
    assert holes == [0, 1, 2]


def test_a_registered_user_rule_is_a_baseline(digits8: Snapshot) -> None:
    def always_seven(images, classes):
        """answers '7' to everything"""
        return np.array(["7"] * len(images))

    register_rule("sevens", always_seven)
    results = baseline_suite(digits8, rules=["sevens"], neural_net=False)
    rule = next(b for b in results if b.name == "rule:sevens")
    assert rule.description == "scripted rule: answers '7' to everything"
    test = digits8.split("test")
    assert rule.metrics["accuracy"] == pytest.approx((test.labels == 7).mean())


def test_user_rule_from_a_project_module(tmp_path: Path, digits8: Snapshot) -> None:
    (tmp_path / "myrules.py").write_text(
        "import numpy as np\n"
        "def brightest(images, classes, train):\n"
        "    '''the class with the most ink, as probabilities'''\n"
        "    out = np.zeros((len(images), len(classes)))\n"
        "    out[:, 8] = 1.0\n"
        "    return out\n"
    )
    name, _, description = resolve_rule("myrules:brightest", tmp_path)
    assert name == "brightest" and "most ink" in description
    results = baseline_suite(
        digits8, rules=["myrules:brightest"], search_path=tmp_path, neural_net=False
    )
    assert any(b.name == "rule:brightest" for b in results)
    with pytest.raises(ConfigError, match="module 'nomodule' cannot be imported"):
        resolve_rule("nomodule:f", tmp_path)
    with pytest.raises(ConfigError, match="not registered"):
        resolve_rule("unknown-rule")


def test_rule_with_a_wrong_answer_shape_is_a_data_error(digits8: Snapshot) -> None:
    register_rule("bad", lambda images, classes: np.zeros(3))
    with pytest.raises(DataError, match="must return"):
        baseline_suite(digits8, rules=["bad"], neural_net=False)


def test_reference_comparisons() -> None:
    published = Reference("paper", "published", {"accuracy": 0.99})
    assert published.compare({"accuracy": 0.995}) == (True, "beaten on accuracy")
    beaten, verdict = published.compare({"accuracy": 0.98})
    assert beaten is False and verdict.startswith("NOT BEATEN: accuracy 0.9800 vs 0.9900")
    requirement = Reference("requirement", "requirement", {"accuracy": 0.99})
    assert requirement.compare({"accuracy": 0.99})[0] is True  # meeting it is enough
    assert requirement.compare({"accuracy": 0.98})[1].startswith("NOT MET")
    human = Reference("human", "human", {"error": 0.02})
    assert human.compare({"error": 0.01})[0] is True  # lower error is better
    assert published.compare({"f1": 0.9})[0] is None  # nothing in common


def test_project_baselines_read_the_config(tmp_path: Path, digits8: Snapshot) -> None:
    config = parse_config(
        "[metric]\nrequirement = 0.995\n"
        "[metric.baselines]\nneural_net = false\nhuman_error = 0.015\n"
        '[[metric.baselines.external]]\nname = "LeNet-5"\nmetrics = {accuracy = 0.992}\n'
        'note = "LeCun et al. 1998"\n'
    )
    results, refs = project_baselines(Project(tmp_path, config), digits8)
    assert "neural_net" not in [b.name for b in results]
    assert [(r.name, r.kind) for r in refs] == [
        ("LeNet-5", "published"),
        ("requirement", "requirement"),
        ("human", "human"),
    ]
    human = refs[-1]
    assert human.metrics["accuracy"] == pytest.approx(0.985)
    assert "not measured by labeling" in human.note


def test_baselines_config_errors() -> None:
    with pytest.raises(ConfigError, match="'module:function' or 'digits'"):
        parse_config('[metric.baselines]\nrules = ["nocolon"]\n')
    with pytest.raises(ConfigError, match="human_error must be <= 1"):
        parse_config("[metric.baselines]\nhuman_error = 2\n")
    assert Config().metric.baselines.neural_net is True
