"""The public surface is small and deliberate."""

from __future__ import annotations

import subprocess
import sys
import types

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
