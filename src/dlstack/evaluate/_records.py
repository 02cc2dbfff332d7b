"""What the evaluate stage leaves on disk, as typed records (pydantic, no torch, no numpy).

- :class:`EvaluationRecord`: ``.dlstack/runs/<run>/evaluation.json``, by
  :func:`write_evaluation_record` (the lifecycle's report stage);
- :class:`EvalTestRecord`: ``.dlstack/tests/<name>-v<n>-<time>.json``, by `dlstack test`;
- :class:`PytestRecord`: ``.dlstack/tests/pytest-<time>.json``, by the pytest plugin;
- :class:`ScopeRecord`: ``.dlstack/scope/scope.json``, by `dlstack scope`;
- :class:`ScoreRecord`: ``.dlstack/score/score.json``, by `dlstack score`.

Each is written with :func:`dlstack.records.write_record` and read back, validated, with
:func:`dlstack.records.read_record`; files from before typed records (``"schema": 1``, no
``kind``) read as the current schema.

>>> import tempfile
>>> from dlstack.layout import Layout
>>> layout = Layout(tempfile.mkdtemp())
>>> print(saved_scope(layout))
None
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from dlstack.records import Record, RecordError, json_default, read_record, write_record

if TYPE_CHECKING:
    from dlstack.evaluate._feasibility import ScopeResult
    from dlstack.layout import Layout

__all__ = [
    "PYTEST_PREFIX",
    "SCOPE_RECORD",
    "SCOPE_REPORT",
    "BaselineEntry",
    "EvalCheckRecord",
    "EvalTestRecord",
    "EvaluationRecord",
    "PytestRecord",
    "RankedEntry",
    "ScopeRecord",
    "ScoreLineRecord",
    "ScoreRecord",
    "plain",
    "saved_scope",
    "write_scope_record",
]

SCOPE_RECORD = "scope.json"  # in Layout.scope_dir
SCOPE_REPORT = "scope.html"  # beside it
PYTEST_PREFIX = "pytest-"  # the plugin's records in Layout.tests_dir: pytest-<time>.json


class _Part(BaseModel):
    """A nested part of a record; unknown keys are kept, like the record's own."""

    model_config = ConfigDict(extra="allow")


def plain(value: Any) -> Any:
    """JSON-ready data from what numpy and pathlib hand around (floats stay floats)."""
    return json.loads(json.dumps(value, default=json_default))


# -- evaluation.json --------------------------------------------------------------------------


class ModelEntry(_Part):
    metrics: dict[str, float | None] = Field(default_factory=dict)
    objective: float | None = None
    feasible: bool = True
    violations: list[str] = Field(default_factory=list)
    unchecked: list[str] = Field(default_factory=list)


class RankedEntry(_Part):
    rank: int
    name: str
    objective: float | None = None
    feasible: bool = True
    violations: list[str] = Field(default_factory=list)


class BaselineEntry(_Part):
    name: str
    description: str = ""
    metrics: dict[str, float | None] = Field(default_factory=dict)
    beaten: bool  # by the model, under the objective's ranking


class EvaluationRecord(Record):
    """A run's evaluation: the model and its baselines under the objective, and the rest."""

    KIND = "evaluation"

    split: str = "test"
    objective: str = ""  # Objective.describe()
    model: ModelEntry | None = None
    ranking: list[RankedEntry] = Field(default_factory=list)
    baselines: list[BaselineEntry] = Field(default_factory=list)
    references: list[dict[str, Any]] = Field(default_factory=list)
    slices: list[dict[str, Any]] = Field(default_factory=list)
    threshold: dict[str, Any] | None = None
    # A line reader's most frequent character confusions: {"true", "read", "count"}
    # ("" for a character missing on that side).
    confusions: list[dict[str, Any]] = Field(default_factory=list)


# -- `dlstack test` and the pytest plugin ----------------------------------------------------


class EvalCheckRecord(_Part):
    name: str
    kind: str
    passed: bool
    measured: float | None = None
    limit: float | None = None
    detail: str = ""


class EvalTestRecord(Record):
    """One `dlstack test` run: every check of one package on one data split."""

    KIND = "eval-tests"

    package: str
    name: str
    version: int
    data_version: str = ""
    split: str = "test"
    n: int = 0
    passed: bool
    created: str = ""
    seconds: float = 0.0
    metrics: dict[str, float | None] = Field(default_factory=dict)
    checks: list[EvalCheckRecord] = Field(default_factory=list)


class PytestRecord(Record):
    """The counts of one pytest session's model tests (those that used the fixtures)."""

    KIND = "pytest"

    created: str
    package: str | None = None
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed on {self.created or '?'}"


# -- scope.json -------------------------------------------------------------------------------


class ScopePointEntry(_Part):
    fraction: float
    n_train: int
    error: float | None = None
    seconds: float = 0.0
    examples_seen: int = 0
    rounds: int = 0


class ScopeRecord(Record):
    """`dlstack scope`: the learning curve, its fit, data needed, compute cost."""

    KIND = "scope"

    architecture: str
    epochs: int
    split: str
    data_version: str
    points: list[ScopePointEntry]
    fit: dict[str, Any] | None = None
    curve: dict[str, Any] | None = None
    requirement: float | None = None
    needed: dict[str, Any] | None = None
    more_data: list[dict[str, float | None]] = Field(default_factory=list)
    compute: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0


def write_scope_record(layout: Layout, result: ScopeResult) -> Path:
    """``scope.json`` in the project's scope folder, where the lifecycle report finds it."""
    record = ScopeRecord.model_validate(plain(result.to_dict()))
    return write_record(layout.scope_dir / SCOPE_RECORD, record)


def saved_scope(layout: Layout) -> ScopeRecord | None:
    """The latest `dlstack scope` result; None when it never ran (or its file is damaged:
    the report then has no scope section, it does not fail)."""
    try:
        record = read_record(layout.scope_dir / SCOPE_RECORD, ScopeRecord)
    except RecordError:
        return None
    return record if record.points else None


# -- score.json -------------------------------------------------------------------------------


class ScoreLineRecord(_Part):
    id: str
    section: str
    title: str
    points: float
    status: str
    evidence: str = ""
    advice: str = ""


class ScoreRecord(Record):
    """The ML Test Score: 28 lines, the four section sums, the final score and its band."""

    KIND = "score"

    created: str
    final: float
    band: str
    sections: dict[str, float]
    lines: list[ScoreLineRecord]
