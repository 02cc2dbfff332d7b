"""Bad input gets one clear line and exit code 2; never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def dlstack(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dlstack", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def assert_user_error(out: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    for fragment in fragments:
        assert fragment in out.stderr


def test_bad_value_names_key_value_and_rule(tmp_path):
    (tmp_path / "dlstack.toml").write_text("[train]\nlr = -1\n")
    assert_user_error(
        dlstack("data", "log", "-p", str(tmp_path)), "error: train.lr must be > 0, got -1"
    )


def test_corrupt_config(tmp_path):
    (tmp_path / "dlstack.toml").write_text("[train\nlr = ")
    assert_user_error(dlstack("train", "-p", str(tmp_path)), "is not valid TOML")


def test_missing_project(tmp_path):
    assert_user_error(
        dlstack("data", "log", "-p", str(tmp_path)), "no dlstack.toml", "dlstack init"
    )


def test_init_then_commit_nothing(tmp_path):
    out = dlstack("init", str(tmp_path / "p"), "--from", "builtin:digits8")
    assert out.returncode == 0, out.stderr
    assert_user_error(
        dlstack("data", "commit", "-m", "x", "-p", str(tmp_path / "p")), "working set is empty"
    )
    assert_user_error(dlstack("train", "-p", str(tmp_path / "p")), "no data version yet")


def test_unknown_source(tmp_path):
    assert_user_error(
        dlstack("init", str(tmp_path), "--from", "builtin:imagenet"), "--from must be one of"
    )


def test_usage_errors_are_exit_2():
    out = dlstack("data", "frobnicate")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
