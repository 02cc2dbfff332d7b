"""Experiment tracking in MLflow: one MLflow run per dlstack run, in the project's sqlite DB.

Every run records its flattened config as params, the data version and code version, the
architecture and the normalization, one metric point per epoch, and tags to find it by (the
git commit in MLflow's own ``mlflow.source.git.commit``, which its UI shows as the run's
version). ``train._record`` adds what the later stages produce. ``mlflow_ui_command`` and
``experiment_url`` are what ``dlstack ui`` runs and opens to browse them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Tracking stays on this machine: no usage telemetry to outside addresses (MLflow sends some
# by default). Set before mlflow is imported anywhere in the process.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from dlstack.config import Config, Project

__all__ = [
    "Tracker",
    "code_version",
    "experiment_url",
    "flatten_config",
    "git_commit",
    "mlflow_ui_command",
    "quiet_mlflow",
]

# MLflow's own limit on one param value is 6000 characters; stay well inside it.
_MAX_PARAM_CHARS = 500
# Loggers that print migrations and connection chatter at INFO on every first use.
_CHATTY_LOGGERS = ("mlflow", "alembic", "alembic.runtime.migration", "sqlalchemy.engine")


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Hold MLflow's and alembic's INFO chatter (DB migrations, run URLs) to warnings."""
    import mlflow  # noqa: F401  (importing mlflow resets its loggers' levels; do it first)

    saved = {name: logging.getLogger(name).level for name in _CHATTY_LOGGERS}
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # MLflow's own use of deprecated SQLAlchemy options: not the user's to act on.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow\.")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="sqlalchemy")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def flatten_config(config: Config) -> dict[str, str]:
    """``{"train.lr": "0.0003", ...}``: one MLflow param per config value."""
    out: dict[str, str] = {}
    for section, values in config.model_dump(mode="json").items():
        for key, value in values.items():
            text = value if isinstance(value, str) else _json_text(value)
            out[f"{section}.{key}"] = text[:_MAX_PARAM_CHARS]
    return out


def code_version(root: Path, model_source_sha: str | None = None) -> str:
    """The project's git HEAD (plus ``-dirty`` with uncommitted changes), else
    ``dlstack-<version>``; a user model's source hash is appended as ``+model.<sha>``."""
    base = _git_version(root) or f"dlstack-{_dlstack_version()}"
    return f"{base}+model.{model_source_sha}" if model_source_sha else base


def git_commit(root: Path) -> str | None:
    """The full sha of the project's git HEAD; None outside git (or without git)."""
    return _git(root, "rev-parse", "HEAD")


def _git_version(root: Path) -> str | None:
    head = _git(root, "rev-parse", "--short=12", "HEAD")
    if not head:
        return None
    # dlstack's own state (.dlstack/) changes with every run; it is not code.
    status = _git(root, "status", "--porcelain", "--", ".", ":(exclude).dlstack")
    return f"{head}-dirty" if status else head


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _dlstack_version() -> str:
    try:
        return version("dlstack")
    except PackageNotFoundError:
        return "unknown"


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


class Tracker:
    """One MLflow run, written through ``MlflowClient`` (no global active-run state)."""

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    @classmethod
    def start(
        cls, project: Project, *, run_name: str, params: Mapping[str, str], tags: Mapping[str, str]
    ) -> Tracker:
        """Create the project's experiment if needed and a new run in it."""
        with quiet_mlflow():
            client = _client(project)
            experiment_id = _experiment_id(client, project)
            run = client.create_run(
                experiment_id, run_name=run_name, tags={**_source_tags(project), **tags}
            )
            tracker = cls(client, run.info.run_id, experiment_id)
            tracker.log_params(params)
        return tracker

    @classmethod
    def reopen(cls, project: Project, mlflow_run_id: str) -> Tracker | None:
        """The existing run, marked running again; None if the tracking DB lost it."""
        from mlflow.exceptions import MlflowException

        with quiet_mlflow():
            client = _client(project)
            try:
                run = client.get_run(mlflow_run_id)
            except MlflowException:
                return None
            client.update_run(mlflow_run_id, status="RUNNING")
        return cls(client, mlflow_run_id, run.info.experiment_id)

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:_MAX_PARAM_CHARS]) for k, v in params.items()]
        with quiet_mlflow():
            for i in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
                self.client.log_batch(self.run_id, params=items[i : i + 100])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        with quiet_mlflow():
            self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        with quiet_mlflow():
            self.client.log_batch(self.run_id, metrics=items)

    def log_epoch(self, row: Mapping[str, float]) -> None:
        """A History listener: one point per metric at step = epoch."""
        step = int(row["epoch"])
        self.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """``path`` into the run's artifacts, under the folder ``artifact_path`` if given."""
        with quiet_mlflow():
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        """``status``: FINISHED, FAILED or KILLED."""
        with quiet_mlflow():
            self.client.set_terminated(self.run_id, status=status)


def _client(project: Project) -> MlflowClient:
    from mlflow import MlflowClient

    project.state_dir.mkdir(parents=True, exist_ok=True)
    # The model registry lives in the same sqlite DB as the runs (MLflow's SQL store has both).
    return MlflowClient(tracking_uri=project.tracking_uri, registry_uri=project.tracking_uri)


def _source_tags(project: Project) -> dict[str, str]:
    """MLflow's own source tags: where the code came from, shown in its UI's run list."""
    tags = {"mlflow.source.name": str(project.root), "mlflow.source.type": "LOCAL"}
    commit = git_commit(project.root)
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def _experiment_id(client: MlflowClient, project: Project) -> str:
    name = project.config.project.name
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=project.artifacts_uri)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


# MLflow 3 opens on its GenAI pages; this query parameter of its UI selects the classic
# machine-learning view (runs, metrics, models) that dlstack's runs belong in.
_CLASSIC_VIEW = "workflowType=machine_learning"


def experiment_url(project: Project, host: str = "127.0.0.1", port: int = 5000) -> str:
    """The MLflow UI address of the project's runs: its experiment's runs table.

    The experiment is created (empty) if no run made it yet, so the address always works.
    """
    with quiet_mlflow():
        experiment_id = _experiment_id(_client(project), project)
    return f"http://{host}:{port}/#/experiments/{experiment_id}/runs?{_CLASSIC_VIEW}"


def mlflow_ui_command(project: Project, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    """The command line ``dlstack ui`` runs: MLflow's UI on the project's tracking DB.

    >>> from dlstack.config import Config, Project
    >>> cmd = mlflow_ui_command(Project(Path("/p"), Config()), port=5001)
    >>> cmd[1:4], cmd[-6:-2]
    (['-m', 'mlflow', 'ui'], ['--host', '127.0.0.1', '--port', '5001'])
    """
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        project.tracking_uri,
        "--registry-store-uri",  # the registered models live in the same DB
        project.tracking_uri,
        "--default-artifact-root",
        project.artifacts_uri,
        "--host",
        host,
        "--port",
        str(port),
        # One worker is plenty for one person's browser, and starts faster on a laptop.
        "--workers",
        "1",
    ]
