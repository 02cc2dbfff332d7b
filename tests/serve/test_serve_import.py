"""Serving must work without torch (small containers, serverless): checked in a clean process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image


def test_serve_loads_and_predicts_without_importing_torch(exported: Path, tmp_path: Path) -> None:
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    code = textwrap.dedent(f"""
        import sys
        import dlstack.package
        pkg = dlstack.package.load_package({str(exported)!r})
        (p,) = pkg.predict_images([{str(image)!r}])
        heavy = sorted(m for m in sys.modules
                       if m.split(".")[0] in ("torch", "torchmetrics", "lightning", "sklearn"))
        print(p.label, heavy)
        assert not heavy, heavy
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout


def test_public_api() -> None:
    import dlstack.serve as api

    assert all(hasattr(api, name) for name in api.__all__)


def test_the_server_app_does_not_import_torch(exported: Path) -> None:
    # The whole server (app, batching, protocol, auth, metrics, prediction log) and the
    # CLI verb that starts it stay torch-free, as a serving container needs.
    code = textwrap.dedent(f"""
        import sys
        import dlstack.serve._app, dlstack.cli._serve, dlstack.serve._drift
        app = dlstack.serve._app.create_app([{str(exported)!r}])
        heavy = sorted(m for m in sys.modules
                       if m.split(".")[0] in ("torch", "torchmetrics", "lightning", "sklearn"))
        assert not heavy, heavy
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
