"""Tracking helpers: config flattening, code versions, the `dlstack ui` command line."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlstack.config import Config, Project
from dlstack.train import code_version, experiment_url, mlflow_ui_command
from dlstack.train._tracking import Tracker, flatten_config, quiet_mlflow


def test_flatten_config_gives_one_string_param_per_value() -> None:
    params = flatten_config(Config.model_validate({"train": {"lr": 0.001}}))
    assert params["train.lr"] == "0.001"
    assert params["train.optimizer"] == "adam"
    assert params["data.split"] == "[0.8,0.1,0.1]"
    assert params["data.subset"] == "null"
    assert all(isinstance(v, str) for v in params.values())


def test_code_version_outside_git_is_the_dlstack_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    assert code_version(tmp_path) == f"dlstack-{version('dlstack')}"
    assert (
        code_version(tmp_path, "abc123abc123") == f"dlstack-{version('dlstack')}+model.abc123abc123"
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_code_version_is_git_head_and_dirty_ignores_dlstack_state(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q")
    (tmp_path / "model.py").write_text("x = 1\n")
    git("add", "model.py")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "--short=12", "HEAD")
    assert code_version(tmp_path) == head
    # dlstack's own state changes with every run; it must not make the code "dirty".
    (tmp_path / ".dlstack" / "runs").mkdir(parents=True)
    (tmp_path / ".dlstack" / "runs" / "run.json").write_text("{}")
    assert code_version(tmp_path) == head
    (tmp_path / "model.py").write_text("x = 2\n")
    assert code_version(tmp_path) == f"{head}-dirty"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_mlflow_runs_carry_the_git_commit_as_their_source_version(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q")
    (tmp_path / "dlstack.toml").write_text("")
    git("add", "dlstack.toml")
    git("commit", "-q", "-m", "first")
    project = Project(tmp_path, Config())
    tracker = Tracker.start(project, run_name="r1", params={}, tags={"dlstack.run_id": "r1"})
    tracker.finish()
    tags = MlflowClient(tracking_uri=project.tracking_uri).get_run(tracker.run_id).data.tags
    # MLflow's own tag, the one its UI shows as the run's version: the full commit.
    assert tags["mlflow.source.git.commit"] == git("rev-parse", "HEAD")
    assert tags["mlflow.source.name"] == str(tmp_path) and tags["dlstack.run_id"] == "r1"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_experiment_url_opens_the_runs_table_in_the_classic_view(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    project = Project(tmp_path, Config())
    url = experiment_url(project, port=5055)
    experiment = MlflowClient(tracking_uri=project.tracking_uri).get_experiment_by_name(
        project.config.project.name
    )
    assert experiment is not None  # created, so the page exists before the first run
    assert url == (
        f"http://127.0.0.1:5055/#/experiments/{experiment.experiment_id}/runs"
        "?workflowType=machine_learning"
    )
    # The installed MLflow UI reads that query parameter and knows that value.
    import mlflow.server

    build = Path(mlflow.server.__file__).parent / "js" / "build" / "static" / "js"
    bundle = "".join(f.read_text(errors="replace") for f in build.glob("*.js"))
    assert 'get("workflowType")' in bundle and '"machine_learning"' in bundle


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_ui_command_points_mlflow_at_the_project_store(tmp_path: Path) -> None:
    project = Project(tmp_path, Config())
    cmd = mlflow_ui_command(project, port=5055)
    assert cmd[:4] == [sys.executable, "-m", "mlflow", "ui"]
    args = dict(zip(cmd[4::2], cmd[5::2], strict=True))
    assert args["--backend-store-uri"] == project.tracking_uri
    assert args["--registry-store-uri"] == project.tracking_uri
    assert args["--default-artifact-root"] == project.artifacts_uri
    assert (args["--host"], args["--port"]) == ("127.0.0.1", "5055")
    # The options exist in the installed MLflow: its own CLI parses them.
    from mlflow.cli import cli

    ui = cli.get_command(None, "ui")  # type: ignore[arg-type]  # an alias of `mlflow server`
    assert ui is not None
    ctx = ui.make_context("ui", cmd[4:])
    assert ctx.params["port"] == 5055 and str(ctx.params["workers"]) == "1"


def test_quiet_mlflow_restores_logger_levels() -> None:
    logger = logging.getLogger("alembic")
    before = logger.level
    with quiet_mlflow():
        assert logging.getLogger("mlflow").getEffectiveLevel() >= logging.WARNING
    assert logger.level == before
