"""The public surface is small and deliberate."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

import dlstack


def test_all_is_exactly_the_public_names():
    # Submodules become attributes as a side effect of being imported; they aren't API names.
    public = {
        n
        for n, v in vars(dlstack).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert set(dlstack.__all__) == public | {"__version__"}


def test_import_is_light():
    # `import dlstack` must not pull in torch, lightning or mlflow (startup time of every CLI call).
    code = (
        "import dlstack, sys; "
        "print(sorted(m for m in ('torch', 'lightning', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _packages() -> list[str]:
    import pkgutil

    found = ["dlstack"]
    for info in pkgutil.walk_packages(dlstack.__path__, "dlstack."):
        if info.ispkg:
            found.append(info.name)
    return sorted(found)


@pytest.mark.parametrize("name", _packages())
def test_each_package_init_is_its_public_api(name: str) -> None:
    # A package's __init__ is the only door into it (tests/test_layers.py forbids reaching
    # past it): every name it lists must resolve, once, and every lazy name must be listed.
    package = importlib.import_module(name)
    names = getattr(package, "__all__", None)
    assert names is not None, f"{name} has no __all__"
    assert len(names) == len(set(names)), f"{name}.__all__ lists a name twice"
    missing = [n for n in names if not hasattr(package, n)]
    assert missing == [], f"{name}.__all__ names what it cannot give: {missing}"
    lazy = set(getattr(package, "_HOME", {}) or getattr(package, "_LAZY", {}))
    assert lazy <= set(names), f"{name} resolves names it does not list: {lazy - set(names)}"
