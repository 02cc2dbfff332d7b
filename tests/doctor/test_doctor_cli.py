"""`dlstack doctor FILE.py`, `dlstack doctor -p PROJECT`, and examine_project."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dlstack.cli._doctor import register

CASE = """
import torch
from torch import nn
from torch.utils.data import TensorDataset

def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear({d_in}, 16), nn.ReLU(), nn.Linear(16, 3))

def data():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 8, generator=g) * 3
    y = torch.randint(0, 3, (300,), generator=g)
    x = centers[y] + torch.randn(300, 8, generator=g)
    x = (x - x.mean(0)) / x.std(0)
    return TensorDataset(x[:200], y[:200]), TensorDataset(x[200:], y[200:])

lr = 3e-3
"""


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """dlstack (test app with only the doctor verb)."""

    register(app)
    return app


def _write(tmp_path: Path, d_in: int) -> Path:
    path = tmp_path / "case.py"
    path.write_text(textwrap.dedent(CASE.format(d_in=d_in)))
    return path


def test_doctor_file_healthy(tmp_path, app):
    path = _write(tmp_path, 8)
    out = CliRunner().invoke(app, ["doctor", str(path), "-q", "--budget", "30"])
    assert out.exit_code == 0, out.output
    assert "healthy" in out.output
    html = tmp_path / "case.doctor.html"
    # the report and its JSON twin sit next to the file
    assert html.is_file() and json.loads(html.with_suffix(".json").read_text())["healthy"]


def test_doctor_file_with_a_bug_exits_1_and_names_it(tmp_path, app):
    path = _write(tmp_path, 5)  # the first layer expects 5 features, the data has 8
    out = CliRunner().invoke(app, ["doctor", str(path), "-q", "-o", str(tmp_path / "r.html")])
    assert out.exit_code == 1, out.output
    assert "wont-run" in out.output and (tmp_path / "r.html").is_file()


def test_doctor_file_missing_functions(tmp_path, app):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    out = CliRunner().invoke(app, ["doctor", str(path), "-q"])
    # a user mistake: a DlstackError for main() to print as one line, exit code 2
    assert out.exit_code != 0
    assert "must define a function model()" in str(out.exception)


def test_examine_project_writes_report(digits8_project, tmp_path):
    from dlstack.data import Snapshot
    from dlstack.doctor import examine_project

    snapshot = Snapshot.from_builtin("digits8")
    report, html = examine_project(digits8_project, snapshot, budget_s=20)
    assert html == digits8_project.state_dir / "doctor" / "report.html"
    assert html.is_file() and html.with_suffix(".json").is_file()
    assert report.settings["data_version"] == "builtin:digits8"
    # dlstack's own LeNet on its own data: nothing blocks it
    assert not [f for f in report.findings if f.severity == "error"], report.summary()
    assert report.overfit is not None and report.overfit["verdict"] == "fit"
