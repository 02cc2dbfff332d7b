"""A short soak (slow): steady load from another process, every prediction logged; no
errors and no memory growth. `bench/serve_load.py --soak-seconds 600` is the long one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_short_soak_has_no_errors_and_no_memory_growth(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "serve_load.py"),
            "--skip-bench",
            "--soak-seconds",
            "45",
            "--soak-concurrency",
            "8",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    soak = json.loads(out.read_text())["soak"]
    assert soak["ok"] > 0 and soak["errors"] == 0, soak["statuses"]
    # Memory settles after warm-up; what grows is leaked (buffers are bounded by design).
    assert soak["rss_end_mb"] - soak["rss_start_mb"] < 50, soak["rss_samples"]
