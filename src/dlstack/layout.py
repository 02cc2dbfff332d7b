"""Where everything dlstack keeps in a project lives: every artifact path, in one place.

    my-project/
      dlstack.toml                  the project file
      .dlstack/objects/             content-addressed store (default; may be s3://)
      .dlstack/catalog.db           catalog (default; may be PostgreSQL)
      .dlstack/lake/                Parquet data lake (default; may be s3://)
      .dlstack/snapshots/<ver>/     checked-out data versions
      .dlstack/cache/steps/         cached outputs of [[data.steps]]
      .dlstack/mlflow.db, mlruns/   experiment tracking
      .dlstack/runs/<run>/          run.json, checkpoints/, evaluation.json, report.html
      .dlstack/models/<name>/<n>/   model packages
      .dlstack/doctor/              the doctor's report.json and report.html
      .dlstack/scope/               scope.json and scope.html
      .dlstack/tests/               `dlstack test` and pytest-plugin results
      .dlstack/score/score.json     the ML Test Score
      .dlstack/monitor/             drift reports
      .dlstack/tune/                tuning studies

>>> layout = Layout("/tmp/p")
>>> str(layout.run_dir("r1") / RUN_FILE)
'/tmp/p/.dlstack/runs/r1/run.json'
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CONFIG_FILE",
    "EVALUATION_FILE",
    "REPORT_FILE",
    "RUN_FILE",
    "STATE_DIR",
    "Layout",
]

CONFIG_FILE = "dlstack.toml"
STATE_DIR = ".dlstack"
RUN_FILE = "run.json"  # in a run dir
EVALUATION_FILE = "evaluation.json"  # in a run dir
REPORT_FILE = "report.html"  # in a run dir and in the doctor's folder


class Layout:
    """The paths of one project directory. Nothing is created until a stage writes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    # -- data ---------------------------------------------------------------------------

    @property
    def snapshots_dir(self) -> Path:
        return self.state_dir / "snapshots"

    @property
    def steps_cache_dir(self) -> Path:
        return self.state_dir / "cache" / "steps"

    # -- training -----------------------------------------------------------------------

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.state_dir / 'mlflow.db'}"

    @property
    def artifacts_uri(self) -> str:
        return (self.state_dir / "mlruns").as_uri()

    # -- stages after training -------------------------------------------------------------

    @property
    def models_dir(self) -> Path:
        return self.state_dir / "models"

    @property
    def doctor_dir(self) -> Path:
        return self.state_dir / "doctor"

    @property
    def scope_dir(self) -> Path:
        return self.state_dir / "scope"

    @property
    def tests_dir(self) -> Path:
        return self.state_dir / "tests"

    @property
    def score_file(self) -> Path:
        return self.state_dir / "score" / "score.json"

    @property
    def monitor_dir(self) -> Path:
        return self.state_dir / "monitor"

    @property
    def tune_dir(self) -> Path:
        return self.state_dir / "tune"
