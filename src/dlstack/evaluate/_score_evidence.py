"""The evidence `dlstack score` grades: every stage's typed records, read once each.

Runs (:class:`~dlstack.train.RunRecord`), packages (:class:`~dlstack.package.PackageSpec`
through :class:`~dlstack.package.ModelRepository`), `dlstack test` and pytest-plugin
results, the doctor's :class:`~dlstack.doctor.DoctorRecord`, the newest run's
:class:`EvaluationRecord`, the release gate's verdict beside each package
(:func:`~dlstack.package.read_gate`), and the data lake's ingest reports, prediction logs
and serving feedback. A
record that cannot be read, or is of another kind, is no evidence: it is left out, never
a crash, and never a point.

>>> import tempfile
>>> from dlstack.layout import Layout
>>> ev = Evidence(Layout(tempfile.mkdtemp()))
>>> ev.runs, ev.packages, ev.doctor
([], [], None)
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from dlstack.evaluate._eval_report import latest_results
from dlstack.evaluate._records import (
    PYTEST_PREFIX,
    EvalCheckRecord,
    EvalTestRecord,
    EvaluationRecord,
    PytestRecord,
)
from dlstack.layout import EVALUATION_FILE, RUN_FILE
from dlstack.records import RecordError, read_record

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.doctor import DoctorRecord
    from dlstack.layout import Layout
    from dlstack.package import GateVerdict, PackageSpec
    from dlstack.train import RunRecord

__all__ = [
    "FEEDBACK_LOG",
    "INGEST_REPORTS",
    "PREDICTION_LOGS",
    "Evidence",
    "PackageEvidence",
    "RunEvidence",
]

INGEST_REPORTS = "ingest_reports"  # lake datasets the score reads
PREDICTION_LOGS = ("predictions", "prediction_logs")
FEEDBACK_LOG = "feedback"  # "this is wrong" flags from the server, with a person's label


class RunEvidence(NamedTuple):
    dir: Path
    record: RunRecord


class PackageEvidence(NamedTuple):
    dir: Path
    spec: PackageSpec


class Evidence:
    """The project's artifacts, read once each, on demand."""

    def __init__(self, layout: Layout, project: Project | None = None) -> None:
        self.layout = layout
        self.project = project  # for the lake's location; None: no lake evidence

    @cached_property
    def runs(self) -> list[RunEvidence]:
        """Every readable run, oldest first."""
        from dlstack.train import RunRecord

        out = []
        runs_dir = self.layout.runs_dir
        for run_file in sorted(runs_dir.glob(f"*/{RUN_FILE}")) if runs_dir.is_dir() else []:
            try:
                out.append(RunEvidence(run_file.parent, read_record(run_file, RunRecord)))
            except RecordError:
                continue
        return sorted(out, key=lambda r: (r.record.started_at, r.record.run_id))

    @cached_property
    def finished_runs(self) -> list[RunEvidence]:
        """Runs that finished and still have the checkpoint they name: a run.json that says
        "finished" without its model is not a trained model."""
        return [
            r
            for r in self.runs
            if r.record.status == "finished" and (r.dir / r.record.best_checkpoint_path).is_file()
        ]

    @cached_property
    def packages(self) -> list[PackageEvidence]:
        """Every readable package version, by name, then version."""
        from dlstack.package import ModelRepository

        repo = ModelRepository(self.layout.models_dir)
        return [PackageEvidence(d, spec) for d, spec in repo.specs() if spec is not None]

    @cached_property
    def test_results(self) -> list[EvalTestRecord]:
        """`dlstack test` results, newest first."""
        return latest_results(self.layout)

    def checks_of(self, kind: str) -> list[tuple[EvalTestRecord, EvalCheckRecord]]:
        """(result, check) for every saved `dlstack test` check of ``kind``, newest first."""
        return [(r, c) for r in self.test_results for c in r.checks if c.kind == kind]

    @cached_property
    def pytest_results(self) -> list[PytestRecord]:
        """The pytest plugin's session records, newest first."""
        folder = self.layout.tests_dir
        found = []
        for path in sorted(folder.glob(f"{PYTEST_PREFIX}*.json"), reverse=True):
            try:
                found.append(read_record(path, PytestRecord))
            except RecordError:
                continue
        return found

    @cached_property
    def doctor(self) -> tuple[Path, DoctorRecord] | None:
        """The doctor's record: the project's, else the newest run's."""
        from dlstack.doctor import DOCTOR_RECORD, DoctorRecord

        # The project's (`dlstack doctor`, `dlstack run`), then any a run folder holds.
        candidates = [self.layout.doctor_dir / DOCTOR_RECORD]
        for run in reversed(self.runs):
            candidates += sorted(run.dir.glob(f"doctor*/{DOCTOR_RECORD}"))
            candidates += sorted(run.dir.glob("doctor*.json"))
        for path in candidates:
            try:
                return path, read_record(path, DoctorRecord)
            except RecordError:
                continue
        return None

    @cached_property
    def evaluation(self) -> tuple[str, EvaluationRecord] | None:
        """(run id, its evaluation record) of the newest run that has one."""
        for run in reversed(self.runs):
            try:
                return run.record.run_id, read_record(run.dir / EVALUATION_FILE, EvaluationRecord)
            except RecordError:
                continue
        return None

    @cached_property
    def lake_datasets(self) -> dict[str, Any]:
        """Lake dataset name -> Arrow table, for the datasets score reads."""
        if self.project is None:
            return {}
        try:
            from dlstack.data import Lake

            lake = Lake(self.project.lake_url, **self.project.lake_options)
            names = lake.datasets()
        except Exception:  # an unreachable lake is "no evidence", not a crash
            return {}
        out: dict[str, Any] = {}
        for name in (INGEST_REPORTS, *PREDICTION_LOGS, FEEDBACK_LOG):
            if name in names:
                try:
                    out[name] = lake.read(name)
                except Exception:
                    continue
        return out

    @cached_property
    def served(self) -> dict[tuple[str, int], int]:
        """(model, version) -> predictions the server logged for it."""
        counts: dict[tuple[str, int], int] = {}
        for name in PREDICTION_LOGS:
            table = self.lake_datasets.get(name)
            if table is None or not {"model", "version"} <= set(table.column_names):
                continue
            models = table.column("model").to_pylist()
            versions = table.column("version").to_pylist()
            for model, version in zip(models, versions, strict=True):
                if model and _count(version) > 0:
                    key = (str(model), _count(version))
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def gate_of(self, name: str, version: int) -> tuple[GateVerdict | None, str]:
        """(the release gate's verdict of package ``name`` v``version``, a problem): None
        and "" when it was not checked; None and why when the verdict or package is
        unreadable, or the package is not in this project."""
        from dlstack.errors import PackageError
        from dlstack.package import SPEC_FILE, read_gate

        folder = self.layout.models_dir / name / str(version)
        if not (folder / SPEC_FILE).is_file():
            return None, f"no package {name} v{version} in {self.layout.models_dir}"
        try:
            return read_gate(folder), ""
        except PackageError as e:
            return None, str(e)

    @cached_property
    def tune_results(self) -> list[dict[str, Any]]:
        """The studies `dlstack tune` recorded (``.dlstack/tune/<study>/result.json``) that
        finished at least one trial, as dicts."""
        from dlstack.tune import tune_results

        return [r.model_dump() for r in tune_results(self.layout) if r.trials > 0]


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
