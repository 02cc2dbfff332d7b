"""Targets beyond one class: how a manifest's target reads per task, how it is stored,
and how a model's outputs turn back into answers (dlstack.targets, torch-free)."""

from __future__ import annotations

import numpy as np
import pytest

from dlstack.config import parse_config
from dlstack.config._infer import infer_task
from dlstack.errors import ConfigError, DataError
from dlstack.targets import TargetSpec, decide, feedback_label, sigmoid, target_matrix


def test_a_value_is_stored_in_one_canonical_form_so_only_a_change_is_a_change() -> None:
    reg = TargetSpec("regression", ("y",))
    # "151", 151 and "151.0" are the same number: the same stored label.
    assert {reg.read({"y": v}, "t:1") for v in ("151", 151, "151.0", " 151 ")} == {"[151.0]"}
    assert reg.read({"y": "151.5"}, "t:1") != reg.read({"y": "151"}, "t:1")
    two = TargetSpec("regression", ("y1", "y2"))
    assert two.read({"y1": 1, "y2": "-2.5", "x": 3}, "t:1") == "[1.0,-2.5]"
    tags = TargetSpec("multilabel", ("tags",))
    # Order and repeats do not matter; a JSON list reads as the separated text does.
    assert tags.read({"tags": "dog|cat|dog"}, "t:1") == '["cat","dog"]'
    assert tags.read({"tags": '["cat", "dog"]'}, "t:1") == '["cat","dog"]'
    assert tags.read({"tags": ["dog", "cat"]}, "t:1") == '["cat","dog"]'
    assert tags.read({"tags": ""}, "t:1") == "[]"  # empty: none of the classes
    assert tags.read({"tags": None}, "t:1") is None  # missing: unlabeled
    assert TargetSpec("multilabel", ("t",), separator=";").read({"t": "a;b"}, "") == '["a","b"]'


@pytest.mark.parametrize(
    ("value", "says"),
    [("nan", "'nan'"), ("abc", "'abc'"), ("inf", "'inf'"), (True, "True")],
)
def test_a_regression_target_that_is_no_finite_number_is_an_error_naming_it(
    value: object, says: str
) -> None:
    with pytest.raises(DataError) as e:
        TargetSpec("regression", ("y",)).read({"y": value}, "data.csv:7")
    message = str(e.value)
    for part in ("data.csv:7", "'y'", says, "finite number", "Fix the value"):
        assert part in message


def test_one_empty_target_of_several_is_an_error_all_empty_is_unlabeled() -> None:
    spec = TargetSpec("regression", ("y1", "y2"))
    assert spec.read({"y1": "", "y2": None}, "t:1") is None
    with pytest.raises(DataError, match="'y2' is empty"):
        spec.read({"y1": "1", "y2": ""}, "t:1")


def test_a_label_outside_the_declared_classes_is_an_error_naming_it_and_the_fix() -> None:
    spec = TargetSpec("multilabel", ("tags",), classes=("cat", "dog"))
    with pytest.raises(DataError) as e:
        spec.read({"tags": "cat|cow"}, "m.csv:3")
    for part in ("m.csv:3", "'cow'", "cat, dog", "[data] classes"):
        assert part in str(e.value)
    with pytest.raises(DataError, match=r"'é'.* outside the declared alphabet"):
        TargetSpec("ctc", ("text",), classes=tuple("0123")).read({"text": "12é"}, "l.csv:2")


def test_stored_labels_become_the_arrays_a_model_learns_from() -> None:
    assert target_matrix(
        "multilabel", ['["cat"]', "[]", '["cat","dog"]'], ["cat", "dog"]
    ).tolist() == [
        [1, 0],
        [0, 0],
        [1, 1],
    ]
    assert target_matrix("regression", ["[1.5,2.0]"], ["a", "b"]).tolist() == [[1.5, 2.0]]
    with pytest.raises(DataError, match="'bird'"):
        target_matrix("multilabel", ['["bird"]'], ["cat", "dog"])
    classes = TargetSpec("multilabel", ("t",)).classes_of(['["dog"]', '["cat","dog"]', None])
    assert classes == ["cat", "dog"]
    assert TargetSpec("regression", ("y1", "y2")).classes_of([]) == ["y1", "y2"]


def test_outputs_become_answers_per_task() -> None:
    (ml,) = decide("multilabel", np.array([[0.9, 0.5, 0.1]]), ["cat", "dog", "cow"])
    assert ml.labels == ("cat", "dog") and ml.label == '["cat","dog"]'  # 0.5 reaches 0.5
    assert ml.confidence == pytest.approx(0.5)  # the least sure decision
    (tuned,) = decide("multilabel", np.array([[0.9, 0.5]]), ["cat", "dog"], [0.95, 0.4])
    assert tuned.labels == ("dog",)
    (reg,) = decide("regression", np.array([[151.2, -3.0]], np.float32), ["y1", "y2"])
    assert reg.values == {"y1": 151.2, "y2": -3.0}  # the decimals, not float32 noise
    assert reg.label == "[151.2,-3.0]" and np.isnan(reg.confidence)
    (one,) = decide("classification", np.array([[0.2, 0.8]]), ["a", "b"])
    assert (one.label, one.confidence) == ("b", pytest.approx(0.8))
    assert sigmoid(np.array([[-800.0, 0.0, 800.0]])).tolist() == [[0.0, 0.5, 1.0]]


def test_a_feedback_label_is_checked_and_stored_like_an_ingested_one() -> None:
    assert feedback_label("multilabel", "dog|cat", ["cat", "dog"]) == '["cat","dog"]'
    assert feedback_label("regression", "151", ["y"]) == "[151.0]"
    assert feedback_label("regression", "[1, 2]", ["a", "b"]) == "[1.0,2.0]"
    with pytest.raises(DataError, match="not declared classes"):
        feedback_label("multilabel", "bird", ["cat", "dog"])
    with pytest.raises(DataError, match="gives 1 value"):
        feedback_label("regression", "1", ["a", "b"])
    with pytest.raises(DataError, match="not one of the model's labels"):
        feedback_label("classification", "7", ["0", "1"])


def test_init_infers_the_task_from_the_target_values() -> None:
    assert infer_task({"1.5", "2.25", "3"})[0] == "regression"
    assert infer_task({str(v) for v in range(100)})[0] == "regression"  # a count, not codes
    assert infer_task({"0", "1", "2"})[0] == "classification"  # class codes
    assert infer_task({"cat", "dog"})[0] == "classification"
    task, what = infer_task({"cat|dog", "cow", ""})
    assert task == "multilabel" and "3 classes" in what
    assert infer_task({'["a", "b"]', '["c"]'})[0] == "multilabel"


def test_each_task_has_its_default_objective_and_several_targets_need_a_regression() -> None:
    def config(task: str, extra: str = ""):
        return parse_config(f'[project]\ntask = "{task}"\n{extra}')

    assert config("classification").metric.optimize == "accuracy"
    assert config("multilabel").metric.optimize == "f1_macro"
    assert config("regression").metric.optimize == "r2"
    # Said explicitly, it stays; an objective formula is not overridden either.
    assert config("regression", '[metric]\noptimize = "mae"').metric.optimize == "mae"
    weighted = config("multilabel", '[metric]\nobjective = "0.5*map + 0.5*f1_macro"')
    assert weighted.metric.objective and weighted.metric.optimize == "accuracy"
    assert config("regression", '[data]\ntarget = ["y1", "y2"]').data.targets == ("y1", "y2")
    with pytest.raises(ConfigError, match="only a regression learns several"):
        config("classification", '[data]\ntarget = ["y1", "y2"]')
