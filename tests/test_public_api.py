"""The public surface is small and deliberate."""

from __future__ import annotations

import subprocess
import sys

import dlstack


def test_all_is_exactly_the_public_names():
    public = {n for n in vars(dlstack) if not n.startswith("_")} - {
        "errors", "project"}  # submodules imported as a side effect
    assert set(dlstack.__all__) == public | {"__version__"}


def test_import_is_light():
    # `import dlstack` must not pull in torch, lightning or mlflow (startup time of every CLI call).
    code = "import dlstack, sys; print(sorted(m for m in ('torch','lightning','mlflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
