"""The pytest plugin: users' own model tests against a package, recorded for `score`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eval_fixtures import ManifestProject

USER_TESTS = """
import numpy as np

def test_accuracy_is_high(dlstack_metrics):
    assert dlstack_metrics["accuracy"] > 0.9

def test_predict_gives_label_names(dlstack_data, dlstack_predict):
    labels = dlstack_predict(dlstack_data.images)
    truth = np.asarray(dlstack_data.classes)[dlstack_data.labels]
    assert (labels == truth).mean() > 0.9

def test_an_impossible_bar(dlstack_metrics):
    assert dlstack_metrics["accuracy"] > 0.9999

def test_not_a_model_test():
    assert True
"""


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_model.py").write_text(USER_TESTS)
    env = {**os.environ, "DLSTACK_PACKAGE": "", "DLSTACK_PROJECT": ""}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "dlstack.evaluate.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "test_model.py",
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.slow  # a pytest subprocess that imports torch (metrics): ~15 s on 2 busy cores
def test_plugin_runs_user_model_tests_and_records_the_counts(
    manifest_project: ManifestProject, tmp_path: Path
) -> None:
    mp = manifest_project
    out = _pytest(
        tmp_path, "--dlstack-package", str(mp.good), "--dlstack-project", str(mp.project.root)
    )
    assert "1 failed, 3 passed" in out.stdout, out.stdout + out.stderr
    records = sorted((mp.project.state_dir / "tests").glob("pytest-*.json"))
    record = json.loads(records[-1].read_text())
    # only the tests that used the model fixtures count as model tests
    assert (record["kind"], record["passed"], record["failed"]) == ("pytest", 2, 1)


def test_without_a_package_model_tests_skip_and_say_why(tmp_path: Path) -> None:
    # loads the plugin, its options and fixtures; needs no torch, so it stays fast
    out = _pytest(tmp_path, "-rs")
    assert "3 skipped" in out.stdout and "1 passed" in out.stdout, out.stdout + out.stderr
    assert "no model package: pass --dlstack-package" in out.stdout
