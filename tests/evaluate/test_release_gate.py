"""The release gate: [gate] config, the verdict from what the stages found, gate.json, and
`dlstack run` exiting 1 on a failed gate while `dlstack serve` keeps the last good one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from eval_fixtures import ManifestProject, ScoredProject

from dlstack.config import EvalTestsConfig, Project, init_project, parse_config, render_template
from dlstack.errors import ConfigError
from dlstack.evaluate import baselines, eval_data, evaluate, evaluation_details, run_eval_tests
from dlstack.lifecycle import judge_release, release_gate
from dlstack.package import load_package, read_gate, select_version


def _with(project: Project, **sections: dict) -> Project:
    """``project`` with some sections replaced, validated as dlstack.toml would be."""
    raw = {**project.config.model_dump(), **sections}
    return Project(project.root, type(project.config).model_validate(raw))


@pytest.fixture
def packages(manifest_project: ManifestProject, tmp_path: Path) -> tuple[Path, Path]:
    """Private copies of the good (v1) and broken (v2) packages: verdicts get written."""
    good, broken = tmp_path / "digits" / "1", tmp_path / "digits" / "2"
    shutil.copytree(manifest_project.good, good)
    shutil.copytree(manifest_project.broken, broken)
    return good, broken


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('required = ["test"]', "unknown gate(s) 'test'; known gates: tests, doctor"),
        ('required = "tests"', 'write required = ["tests"]'),
        ('required = ["tests", "tests"]', "names 'tests' more than once"),
        ("require = []", "gate.require is not a known key; allowed here: required"),
    ],
)
def test_gate_config_mistakes_name_the_key_and_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^gate\.require") as e:
        parse_config(f"[gate]\n{text}\n")
    assert message in str(e.value)


def test_gate_defaults_and_the_init_template() -> None:
    assert parse_config("").gate.required == ("tests", "baselines")
    assert parse_config("[gate]\nrequired = []\n").gate.required == ()
    text = render_template(name="x", source="builtin:digits8")
    # The template shows the section commented out, with the defaults and the other gates.
    assert '# required = ["tests", "baselines"]' in text and "doctor, constraints" in text
    uncommented = text.replace("# [gate]", "[gate]").replace("# required", "required")
    assert parse_config(uncommented).gate.required == ("tests", "baselines")


def test_the_tests_gate_follows_the_dlstack_test_result(
    manifest_project: ManifestProject, packages: tuple[Path, Path]
) -> None:
    good, broken = packages
    project = _with(manifest_project.project, gate={"required": ["tests"]})
    data = eval_data(project, version=manifest_project.snapshot.version)
    cfg = EvalTestsConfig.model_validate({"min_metrics": {"accuracy": 0.9}})
    passing = run_eval_tests(load_package(good), data, cfg)
    failing = run_eval_tests(load_package(broken), data, cfg)
    ok = release_gate(project, good, tests=passing)
    bad = release_gate(project, broken, tests=failing)
    assert ok.passed and ok.summary() == "passed (tests)"
    assert not bad.passed and [g.name for g in bad.failed] == ["tests"]
    tests_line = bad.gates[0]
    assert "FAILED" in tests_line.detail and "accuracy >= 0.9" in tests_line.detail
    # What did not run is said, and fails only where it is required.
    doctor = next(g for g in bad.gates if g.name == "doctor")
    assert (doctor.ran, doctor.passed, doctor.required) == (False, False, False)
    assert read_gate(broken) == bad and read_gate(good) == ok  # gate.json beside model.json
    # The sealed model.json is untouched: the package still loads (its hash holds).
    load_package(good)
    assert select_version(good.parent).version == 1  # v2 failed: v1 serves


def test_baselines_and_constraints_gates_follow_the_objective(
    manifest_project: ManifestProject,
    packages: tuple[Path, Path],
    digits8,
    digits8_norm,
    trained_mlp,
) -> None:
    evaluation = evaluate(trained_mlp, digits8, digits8_norm)
    found = baselines(digits8)
    strict = _with(
        manifest_project.project,
        metric={"optimize": "accuracy", "constraints": ["accuracy >= 0.999"]},
        gate={"required": ["constraints", "baselines"]},
    )
    details = evaluation_details(strict, evaluation, found, references=[], metadata={})
    verdict = judge_release(strict, packages[0], details=details)
    by_name = {g.name: g for g in verdict.gates}
    assert by_name["baselines"].passed, by_name["baselines"].detail  # the MLP beats both
    assert "beats all 2 baselines" in by_name["baselines"].detail
    assert not by_name["constraints"].passed and "accuracy >= 0.999" in (
        by_name["constraints"].detail
    )
    assert not verdict.passed and [g.name for g in verdict.failed] == ["constraints"]
    # The same evidence with only the baselines required passes.
    lenient = _with(strict, gate={"required": ["baselines"]})
    assert judge_release(lenient, packages[0], details=details).passed
    # An untrained model is below the logistic regression: the gate names it and the numbers.
    torch.manual_seed(0)
    untrained = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    weak = evaluate(untrained, digits8, digits8_norm)
    lost = evaluation_details(lenient, weak, found, references=[], metadata={})
    verdict = judge_release(lenient, packages[0], details=lost)
    line = next(g for g in verdict.gates if g.name == "baselines")
    assert not verdict.passed and not line.passed
    assert "does not beat" in line.detail and "logistic_regression (accuracy 0." in line.detail


def test_dlstack_run_records_the_gate_and_reports_it(scored: ScoredProject) -> None:
    # The scored project's run: one epoch (below the logistic regression) and a writer
    # slice it cannot meet, so both default gates fail, and the doctor ran.
    out = scored.run
    assert out.gate is not None and not out.gate.passed
    assert [g.name for g in out.gate.failed] == ["tests", "baselines"]
    gates = {g.name: g for g in out.gate.gates}
    assert "writer" in gates["tests"].detail and "logistic_regression" in (
        gates["baselines"].detail
    )
    assert gates["doctor"].ran and not gates["doctor"].required
    assert read_gate(out.package) == out.gate
    html = out.report.read_text()
    assert "Release gate" in html and "FAILED: tests, baselines" in html


def _dlstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dlstack", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.slow
def test_a_failing_tests_entry_fails_the_run_and_serve_keeps_the_last_good_package(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    init_project(root, "builtin:digits8", max_epochs=1)
    toml = root / "dlstack.toml"
    base = toml.read_text().replace("[data]\n", "[data]\nsubset = 300\n", 1)
    gate = '\n[gate]\nrequired = ["tests"]\n'  # one epoch does not beat the baselines
    toml.write_text(base + gate + "\n[tests]\nmin_metrics = { accuracy = 0.3 }\n")
    first = _dlstack("run", "-p", str(root), "-q", "--doctor-budget", "0")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "release gate: digits8 v1 passed (tests)" in first.stdout

    toml.write_text(base + gate + "\n[tests]\nmin_metrics = { accuracy = 0.999 }\n")
    second = _dlstack("run", "-p", str(root), "-q", "--doctor-budget", "0")
    assert second.returncode == 1, second.stdout + second.stderr
    assert "Traceback" not in second.stderr
    assert "release gate: digits8 v2 FAILED: tests" in second.stdout
    assert "accuracy >= 0.999" in second.stdout  # the failing check is named
    assert "error: the release gate failed for digits8 v2" in second.stderr
    models = root / ".dlstack" / "models" / "digits8"
    assert read_gate(models / "2").passed is False  # marked in its metadata
    chosen = select_version(models)
    assert chosen.version == 1 and "v2 failed (tests)" in chosen.reason
