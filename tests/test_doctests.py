"""The examples in dlstack's docstrings run and print what they say (they are docs)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import dlstack

# __main__ runs the CLI when imported.
_SUBMODULES = (m.name for m in pkgutil.walk_packages(dlstack.__path__, "dlstack."))
MODULES = ["dlstack", *sorted(n for n in _SUBMODULES if not n.endswith("__main__"))]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) in {name} failed"
