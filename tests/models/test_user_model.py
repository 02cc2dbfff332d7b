"""A user model given as "module:callable", and a clear ModelError for each way it fails."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest
import torch

from dlstack.errors import ModelError
from dlstack.models import build_model, user_model_source

_counter = itertools.count()


def write_module(tmp_path: Path, source: str) -> str:
    """A uniquely named module in tmp_path (imported modules stay cached in sys.modules)."""
    name = f"user_models_{next(_counter)}_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return name


GOOD = """
    import torch
    from torch import nn

    def build(input_shape, num_classes):
        torch.manual_seed(123)
        layer = nn.Linear(input_shape[-1] * input_shape[-2], num_classes)
        nn.init.constant_(layer.weight, 0.5)
        return nn.Sequential(nn.Flatten(), layer)

    def only_classes(num_classes):
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

    def kwargs_too(**kwargs):
        assert set(kwargs) == {"input_shape", "num_classes"}
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(kwargs["num_classes"]))

    def not_a_module(input_shape, num_classes):
        return "a string"

    def explodes(input_shape, num_classes):
        raise RuntimeError("kaboom")

    class Net(nn.Module):
        def __init__(self, input_shape, num_classes):
            super().__init__()
            self.fc = nn.Linear(input_shape[1] * input_shape[2], num_classes)

        def forward(self, x):
            return self.fc(x.flatten(1))

    constant = 3
"""


def test_user_callable_is_called_with_shape_and_classes(tmp_path: Path) -> None:
    mod = write_module(tmp_path, GOOD)
    model, name = build_model(f"{mod}:build", (1, 8, 8), 10, search_path=tmp_path)
    assert name == f"{mod}:build"  # the resolved name is the spec itself
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    # User models keep their own initialization: no He-init overwrite.
    assert torch.all(model[1].weight == 0.5)


def test_only_accepted_keyword_arguments_are_passed(tmp_path: Path) -> None:
    mod = write_module(tmp_path, GOOD)
    model, _ = build_model(f"{mod}:only_classes", (1, 8, 8), 4, search_path=tmp_path)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 4)
    model, _ = build_model(f"{mod}:kwargs_too", (1, 8, 8), 3, search_path=tmp_path)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


def test_a_class_works_as_the_callable(tmp_path: Path) -> None:
    mod = write_module(tmp_path, GOOD)
    model, _ = build_model(f"{mod}:Net", (1, 28, 28), 10, search_path=tmp_path)
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_source_hash_identifies_the_file(tmp_path: Path) -> None:
    mod = write_module(tmp_path, GOOD)
    path, sha = user_model_source(f"{mod}:build", tmp_path) or ("", "")
    assert Path(path).name == f"{mod}.py"
    assert len(sha) == 12 and int(sha, 16) >= 0


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("missing", "has no attribute 'missing'"),
        ("constant", "not callable"),
        ("not_a_module", "returned str, expected a torch.nn.Module"),
        ("explodes", "RuntimeError: kaboom"),
    ],
)
def test_each_failure_is_a_model_error_naming_spec_and_fix(
    tmp_path: Path, attr: str, expected: str
) -> None:
    mod = write_module(tmp_path, GOOD)
    spec = f"{mod}:{attr}"
    with pytest.raises(ModelError) as err:
        build_model(spec, (1, 8, 8), 10, search_path=tmp_path)
    message = str(err.value)
    assert repr(spec) in message  # names the spec...
    assert expected in message  # ...what went wrong...
    assert ";" in message  # ...and, after the semicolon, the fix


def test_missing_module_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"cannot be imported.*Python path"):
        build_model("no_such_module_xyz:build", (1, 8, 8), 10, search_path=tmp_path)


def test_module_that_fails_to_import(tmp_path: Path) -> None:
    mod = write_module(tmp_path, "raise ValueError('broken at import')\n")
    with pytest.raises(ModelError, match="ValueError: broken at import"):
        build_model(f"{mod}:build", (1, 8, 8), 10, search_path=tmp_path)


def test_search_path_is_not_left_on_sys_path(tmp_path: Path) -> None:
    import sys

    mod = write_module(tmp_path, GOOD)
    build_model(f"{mod}:build", (1, 8, 8), 10, search_path=tmp_path)
    assert str(tmp_path.resolve()) not in sys.path
