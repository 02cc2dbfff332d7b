"""`dlstack tune --dashboard`: optuna-dashboard on the study's storage, on loopback only."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import optuna
from tune_fixtures import make_project

from dlstack.tune import storage_url
from services import free_port


def test_the_dashboard_serves_the_projects_study(tmp_path: Path) -> None:
    project, _ = make_project(tmp_path / "proj")
    study = optuna.create_study(study_name="digits8", storage=storage_url(project))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlstack", "tune", "--dashboard", "--port", str(port)],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        studies = _get_when_up(f"http://127.0.0.1:{port}/api/studies", proc)
        assert [s["study_name"] for s in studies["study_summaries"]] == ["digits8"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0


def _get_when_up(url: str, proc: subprocess.Popen[bytes]) -> dict:
    deadline = time.monotonic() + 120  # an outer cap: the server starts in seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            return httpx.get(url, timeout=5).json()
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within 120 s")
