"""The doctor's ``report.json``: a typed record that later stages read without torch.

:meth:`dlstack.doctor.Report.to_json` writes it; `dlstack score` reads it back with
:func:`dlstack.records.read_record`.

>>> record = DoctorRecord(healthy=False, findings=[FindingRecord(
...     code="class-imbalance", severity="warning", title="class 0 has 9x class 1")])
>>> record.kind, record.problems
('doctor', ['class-imbalance'])
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dlstack.records import Record

__all__ = ["DOCTOR_RECORD", "DoctorRecord", "FindingRecord", "PlanStepRecord"]

DOCTOR_RECORD = "report.json"  # beside report.html, in Layout.doctor_dir by default


class FindingRecord(BaseModel):
    """One finding as saved: its code from the catalog, severity, and the numbers."""

    model_config = ConfigDict(extra="allow")

    code: str
    severity: Literal["error", "warning", "info"]
    title: str
    step: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    causes: list[str] = Field(default_factory=list)
    next_step: str = ""


class PlanStepRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str
    codes: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)


class DoctorRecord(Record):
    """``report.json``: what the examination found, the plan, and the evidence behind it."""

    KIND = "doctor"

    healthy: bool
    findings: list[FindingRecord] = Field(default_factory=list)
    plan: list[PlanStepRecord] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    overfit: dict[str, Any] | None = None
    lr_range: dict[str, Any] | None = None
    bias_variance: dict[str, Any] | None = None
    baselines: dict[str, Any] | None = None  # the baselines step's numbers, when it ran
    evidence: dict[str, Any] = Field(default_factory=dict)
    seconds: dict[str, float | None] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Codes of the errors and warnings, in the practice's order."""
        return [f.code for f in self.findings if f.severity in ("error", "warning")]
