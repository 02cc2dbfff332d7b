"""Which version serves when none is named: the newest that passed its release gate.

The verdicts are written with ``dlstack.package.write_gate`` (what `dlstack run` calls
after judging a package); here they are set by hand so each case of the rule is shown.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from serve_helpers import serve_config
from typer.testing import CliRunner

from dlstack.cli._serve import register
from dlstack.errors import CheckFailed
from dlstack.package import (
    GATE_FILE,
    GateCheck,
    GateVerdict,
    read_gate,
    read_spec,
    select_version,
    write_gate,
    write_spec,
)
from dlstack.serve import new_key
from dlstack.serve._app import create_app


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _judge(version_dir: Path, passed: bool) -> None:
    spec = read_spec(version_dir / "model.json")
    check = GateCheck(
        name="tests",
        required=True,
        passed=passed,
        detail="all 4 checks held" if passed else "1 of 4 checks FAILED: accuracy >= 0.99",
    )
    verdict = GateVerdict(
        name=spec.name,
        version=spec.version,
        onnx_sha256=spec.onnx.sha256,
        passed=passed,
        gates=[check],
    )
    write_gate(version_dir, verdict)


@pytest.fixture
def models(exported_v2: Path, tmp_path: Path) -> Path:
    """The models of a project in tmp_path/proj (``digits8_project``'s folder): digits8
    versions 1, 2 (other weights) and 3 (2's model as version 3), no verdicts."""
    name_dir = tmp_path / "proj" / ".dlstack" / "models" / "digits8"
    shutil.copytree(exported_v2.parent, name_dir)
    shutil.copytree(name_dir / "2", name_dir / "3")
    spec = read_spec(name_dir / "3" / "model.json")
    write_spec(name_dir / "3", spec.model_copy(update={"version": 3}))
    return name_dir


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[list[Path]]:
    """What `dlstack serve` would hand the server (the server itself is not started)."""
    calls: list[list[Path]] = []
    monkeypatch.setattr("dlstack.serve.serve", lambda paths, **_: calls.append(list(paths)))
    return calls


def test_serve_picks_the_newest_version_that_passed_and_says_why(
    digits8_project, models: Path, served: list[list[Path]]
) -> None:
    name_dir = digits8_project.models_dir / "digits8"
    assert name_dir == models  # the project's own models folder
    _judge(name_dir / "1", passed=True)
    _judge(name_dir / "2", passed=False)  # v3: not checked, while others were
    r = CliRunner().invoke(_cli(), ["serve", "-p", str(digits8_project.root)])
    assert r.exit_code == 0, r.output
    assert served == [[name_dir / "1"]]
    out = " ".join(r.output.split())
    assert "serving digits8 v1: the newest version that passed its release gate" in out
    assert "v2 failed (tests)" in out and "v3 not checked" in out


def test_a_model_folder_given_on_the_command_line_follows_the_same_rule(
    models: Path, served: list[list[Path]]
) -> None:
    _judge(models / "2", passed=True)
    _judge(models / "3", passed=False)
    r = CliRunner().invoke(_cli(), ["serve", str(models)])
    assert r.exit_code == 0, r.output
    assert served == [[models / "2"]]


def test_a_failed_version_is_refused_unless_allow_failed(
    models: Path, served: list[list[Path]]
) -> None:
    _judge(models / "1", passed=True)
    _judge(models / "3", passed=False)
    r = CliRunner().invoke(_cli(), ["serve", str(models / "3")])
    assert isinstance(r.exception, CheckFailed) and r.exception.exit_code == 1
    assert "digits8 v2 is not served" not in str(r.exception)  # the version named, not another
    assert "release gate failed" in str(r.exception) and "--allow-failed" in str(r.exception)
    assert served == []
    r = CliRunner().invoke(_cli(), ["serve", str(models / "3"), "--allow-failed"])
    assert r.exit_code == 0, r.output
    assert served == [[models / "3"]] and "failed versions allowed" in r.output
    # Without a version, --allow-failed takes the newest whatever its verdict.
    r = CliRunner().invoke(_cli(), ["serve", str(models), "--allow-failed"])
    assert r.exit_code == 0 and served[-1] == [models / "3"]


def test_no_verdict_anywhere_serves_the_newest_and_says_none_was_checked(
    models: Path, served: list[list[Path]]
) -> None:
    r = CliRunner().invoke(_cli(), ["serve", str(models)])
    assert r.exit_code == 0, r.output
    assert served == [[models / "3"]]
    assert "no version of digits8 has a release-gate verdict" in " ".join(r.output.split())


def test_when_every_judged_version_failed_nothing_is_served(models: Path) -> None:
    _judge(models / "1", passed=False)
    _judge(models / "2", passed=False)
    with pytest.raises(CheckFailed, match=r"no version of digits8 passed.*v1 failed.*v3 not"):
        select_version(models)
    assert select_version(models, allow_failed=True).version == 3


def test_a_verdict_copied_from_another_version_is_not_trusted(models: Path) -> None:
    from dlstack.errors import PackageError

    _judge(models / "1", passed=True)
    shutil.copy(models / "1" / GATE_FILE, models / "2" / GATE_FILE)
    with pytest.raises(PackageError, match="judged digits8 v1, not this package"):
        read_gate(models / "2")
    # Relabelled as v2's, it still names v1's ONNX file, which is not v2's.
    forged = read_gate(models / "1").model_copy(update={"version": 2})
    write_gate(models / "2", forged)
    with pytest.raises(PackageError, match="judged another model"):
        read_gate(models / "2")
    (models / "3" / GATE_FILE).write_text('{"kind": "gate", "passed": tr')  # cut off
    with pytest.raises(PackageError, match="damaged"):
        read_gate(models / "3")
    chosen = select_version(models)
    assert chosen.version == 1 and "unreadable" in chosen.reason


def test_admin_load_without_a_version_loads_the_newest_that_passed(models: Path) -> None:
    _judge(models / "1", passed=False)
    _judge(models / "2", passed=True)
    _judge(models / "3", passed=False)
    key, digest = new_key()
    cfg = serve_config(api_keys=[{"name": "ops", "role": "admin", "sha256": digest}])
    with TestClient(create_app([models / "1"], config=cfg)) as client:
        r = client.post(
            "/v2/repository/models/digits8/load", headers={"Authorization": f"Bearer {key}"}
        )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == "2"  # not v3, the newest on disk: it failed
