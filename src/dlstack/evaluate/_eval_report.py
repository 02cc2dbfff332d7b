"""The result of `dlstack test`: one :class:`EvalCheck` per requirement, gathered in an
:class:`EvalTestReport`, saved as an :class:`EvalTestRecord` under ``.dlstack/tests/``
where `dlstack score` and the lifecycle report find it.

>>> check = EvalCheck("accuracy >= 0.9", "metric", False, 0.85, 0.9)
>>> report = EvalTestReport("pkg", "digits", 1, "v1", "test", 180, [check])
>>> report.passed, [c.name for c in report.failures]
(False, ['accuracy >= 0.9'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.evaluate._records import PYTEST_PREFIX, EvalTestRecord, plain
from dlstack.records import RecordError, read_record, write_record

if TYPE_CHECKING:
    from dlstack.layout import Layout

__all__ = ["EvalCheck", "EvalTestReport", "latest_results"]


@dataclass(frozen=True)
class EvalCheck:
    """One check: what was required, what was measured, whether it held."""

    name: str  # e.g. "accuracy >= 0.95", "invariance: shift by 1 pixels"
    kind: str  # metric, slice, latency, size, invariance, directional, stability, skew,
    #            regression, latency_regression, staleness
    passed: bool
    measured: float | None = None
    limit: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "measured": self.measured,
            "limit": self.limit,
            "detail": self.detail,
        }


@dataclass
class EvalTestReport:
    """All checks of one package on one data split."""

    package: str
    name: str
    version: int
    data_version: str
    split: str
    n: int
    checks: list[EvalCheck]
    metrics: dict[str, float] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    seconds: float = 0.0
    path: Path | None = None  # where the record was written

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[EvalCheck]:
        return [c for c in self.checks if not c.passed]

    def kinds(self) -> set[str]:
        return {c.kind for c in self.checks}

    def to_record(self) -> EvalTestRecord:
        return EvalTestRecord.model_validate(
            plain(
                {
                    "package": self.package,
                    "name": self.name,
                    "version": self.version,
                    "data_version": self.data_version,
                    "split": self.split,
                    "n": self.n,
                    "passed": self.passed,
                    "created": self.created,
                    "seconds": self.seconds,
                    "metrics": self.metrics,
                    "checks": [c.to_dict() for c in self.checks],
                }
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (what the HTML report and ``write_json`` use)."""
        data: dict[str, Any] = self.to_record().model_dump(mode="json")
        return data

    def write_json(self, directory: str | Path) -> Path:
        """``<directory>/<name>-v<version>-<time>.json``, atomically; returns its path."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        path = Path(directory) / f"{self.name}-v{self.version}-{stamp}.json"
        write_record(path, self.to_record())
        self.path = path
        return path


def latest_results(layout: Layout) -> list[EvalTestRecord]:
    """Every saved `dlstack test` result of the project, newest first; files that are not
    readable `dlstack test` records (damaged, or another kind) are left out."""
    folder = layout.tests_dir
    if not folder.is_dir():
        return []
    out: list[tuple[str, int, EvalTestRecord]] = []
    for path in folder.glob("*.json"):
        if path.name.startswith(PYTEST_PREFIX):
            continue  # the pytest plugin's records live in the same folder
        try:
            record = read_record(path, EvalTestRecord)
        except RecordError:
            continue
        # created is to the second; the file's mtime orders results within one
        out.append((record.created, path.stat().st_mtime_ns, record))
    return [r for _, _, r in sorted(out, key=lambda x: (x[0], x[1]), reverse=True)]
