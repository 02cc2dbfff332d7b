"""`dlstack scope` from the command line: measures, answers, saves JSON and a report."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from eval_fixtures import ManifestProject
from typer.testing import CliRunner

from dlstack.errors import ConfigError
from dlstack.evaluate import _feasibility as feasibility
from dlstack.evaluate._feasibility import ScopePoint


def _app() -> typer.Typer:
    from dlstack.cli import _evaluate as cli

    app = typer.Typer()
    cli.register(app)
    app.callback()(lambda: None)
    return app


def test_scope_command_prints_and_saves_what_was_measured(
    manifest_project: ManifestProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The training is stubbed (tested in test_feasibility): this is about the command.
    def measured(snapshot, *, fractions, **_):
        points = [
            ScopePoint(f, round(1438 * f), 2.0 * (1438 * f) ** -0.5 + 0.02, 0.2, 2000, 1)
            for f in sorted(fractions)
        ]
        return points, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), (1, 8, 8)

    monkeypatch.setattr(feasibility, "measure_learning_curve", measured)
    root = manifest_project.project.root
    result = CliRunner().invoke(
        _app(),
        [
            "scope",
            "-p",
            str(root),
            "--fractions",
            "0.1,0.2,0.4,0.7,1",
            "-q",
            "--requirement",
            "0.97",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "learning curve: err(n) = 2.0" in result.output and "n^-0.50" in result.output
    assert "requirement accuracy 97.00%: about 4" in result.output  # ~40,000 examples
    record = json.loads((root / ".dlstack" / "scope" / "scope.json").read_text())
    assert record["needed"]["reachable"] and len(record["points"]) == 5
    assert "Feasibility (scope)" in (root / ".dlstack" / "scope" / "scope.html").read_text()


@pytest.mark.slow  # trains four small models: ~5-10 s on 2 busy cores
def test_scope_command_writes_the_learning_curve_and_the_compute_table(
    manifest_project: ManifestProject,
) -> None:
    root = manifest_project.project.root
    result = CliRunner().invoke(
        _app(),
        [
            "scope",
            "-p",
            str(root),
            "--fractions",
            "0.2,0.4,0.7,1",
            "--epochs",
            "1",
            "--architecture",
            "mlp",
            "--requirement",
            "0.999",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "learning curve: err(n) =" in result.output
    assert "requirement accuracy 99.90%" in result.output
    assert "NVIDIA T4" in result.output  # the bundled GPU table
    record = json.loads((root / ".dlstack" / "scope" / "scope.json").read_text())
    assert [p["fraction"] for p in record["points"]] == [0.2, 0.4, 0.7, 1.0]
    assert record["architecture"] == "mlp" and record["compute"]["gpus"]
    html = (root / ".dlstack" / "scope" / "scope.html").read_text()
    assert "Feasibility (scope)" in html and "data:image/png;base64," in html


def test_scope_rejects_malformed_fractions(manifest_project: ManifestProject) -> None:
    result = CliRunner().invoke(
        _app(), ["scope", "-p", str(manifest_project.project.root), "--fractions", "a,b"]
    )
    assert isinstance(result.exception, ConfigError)
    assert "--fractions must be comma-separated numbers" in str(result.exception)
