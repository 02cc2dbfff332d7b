"""`dlstack serve` starts a real server; `--new-key` makes keys; mistakes are clear."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer
from serve_helpers import free_port_for_tests, wait_for_http
from typer.testing import CliRunner

from dlstack.cli._serve import register
from dlstack.errors import ConfigError, DlstackError

_APP = "import typer; from dlstack.cli._serve import register; a = typer.Typer(); register(a); a()"


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_new_key_prints_a_key_and_the_toml_lines() -> None:
    r = CliRunner().invoke(_cli(), ["serve", "--new-key", "admin"])
    assert r.exit_code == 0, r.output
    key = re.search(r"key \(.*\): (\S+)", r.output)[1]
    digest = re.search(r'sha256 = "([0-9a-f]{64})"', r.output)[1]
    assert hashlib.sha256(key.encode()).hexdigest() == digest
    assert 'role = "admin"' in r.output


def test_serve_without_packages_or_project_is_a_user_mistake(tmp_path: Path) -> None:
    r = CliRunner().invoke(_cli(), ["serve", "--project", str(tmp_path)])
    assert isinstance(r.exception, ConfigError) and "no PACKAGE given" in str(r.exception)
    r = CliRunner().invoke(_cli(), ["serve", "--new-key", "root"])
    assert isinstance(r.exception, ConfigError) and "predict, admin" in str(r.exception)


def test_serve_option_overrides_are_validated(exported: Path) -> None:
    r = CliRunner().invoke(_cli(), ["serve", str(exported), "--max-batch-size", "0"])
    assert isinstance(r.exception, DlstackError) and "max_batch_size must be >= 1" in str(
        r.exception
    )


def test_serve_runs_a_server_until_interrupted(digits8_project, exported: Path) -> None:
    # The project's own models are served when no PACKAGE is named.
    import shutil

    shutil.copytree(exported, digits8_project.models_dir / "digits8" / "1")
    port = free_port_for_tests()
    proc = subprocess.Popen(
        [sys.executable, "-c", _APP, "serve", "-p", str(digits8_project.root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        if not wait_for_http(f"{url}/v2/health/ready", proc):
            pytest.fail(f"the server did not start: {proc.communicate(timeout=10)[0]!r}")
        assert httpx.get(f"{url}/v2/models/digits8").json()["versions"] == ["1"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out  # a clean shutdown on Ctrl-C
    assert b"serving" in out
