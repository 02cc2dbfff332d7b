"""The examination's result: findings, the plan, and the evidence behind them.

>>> from dlstack.doctor._findings import make
>>> r = Report([make("class-imbalance", "class 0 has 9.0x the examples of class 1")])
>>> r.healthy, [f.code for f in r.findings]
(False, ['class-imbalance'])
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlstack.doctor._bias_variance import BiasVariance
from dlstack.doctor._findings import Finding, sort_key
from dlstack.doctor._html import write_html
from dlstack.doctor._plan import PlanStep, make_plan
from dlstack.doctor._record import DoctorRecord
from dlstack.records import write_record

__all__ = ["Report"]


@dataclass
class Report:
    """What ``examine`` found, in the practice's order of work.

    ``findings`` are ordered by step (run, inputs, overfit, lr, baseline, bias-variance,
    re-balance); ``ranked()`` orders them most severe first. ``healthy`` is True when no
    finding is an error or a warning; ``unchecked()`` names the checks that were skipped
    or cut short, which the verdict line lists ("healthy as far as checked: ...").
    """

    findings: list[Finding] = field(default_factory=list)
    plan: list[PlanStep] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    overfit: dict[str, Any] | None = None
    lr_range: dict[str, Any] | None = None
    bias_variance: BiasVariance | None = None
    baselines: dict[str, Any] | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.plan:
            self.plan = make_plan(self.findings)

    @property
    def healthy(self) -> bool:
        return not any(f.severity in ("error", "warning") for f in self.findings)

    @property
    def codes(self) -> list[str]:
        """Codes of the errors and warnings (info notes left out)."""
        return [f.code for f in self.findings if f.severity != "info"]

    def ranked(self) -> list[Finding]:
        """Most severe first, then in the practice's order."""
        return sorted(self.findings, key=sort_key)

    def unchecked(self) -> list[str]:
        """The checks that did not run or were cut short: the skipped list's checks, then
        the catalog checks that did not apply (e.g. distribution-shift without test data).
        """
        names = [line.split(":", 1)[0] for line in self.skipped]
        names += [
            f.code
            for f in self.findings
            if f.severity == "info"
            and f.evidence.get("applies") is False
            and "check" not in f.evidence
        ]
        return list(dict.fromkeys(names))

    def verdict(self) -> str:
        """One line: the counts of errors and warnings, or healthy, and what was skipped.

        >>> from dlstack.doctor._findings import not_applicable
        >>> Report([not_applicable("distribution-shift", "no test data")]).verdict()
        'healthy as far as checked: skipped distribution-shift'
        """
        skipped = self.unchecked()
        if not self.healthy:
            head = (
                f"{sum(f.severity == 'error' for f in self.findings)} error(s), "
                f"{sum(f.severity == 'warning' for f in self.findings)} warning(s)"
            )
            return head + (f"; skipped {', '.join(skipped)}" if skipped else "")
        if skipped:
            return f"healthy as far as checked: skipped {', '.join(skipped)}"
        return "healthy: no errors or warnings"

    # -- output ---------------------------------------------------------------------------

    def to_record(self) -> DoctorRecord:
        """The report as the typed record ``report.json`` holds (numbers rounded, NaN null)."""
        return DoctorRecord.model_validate(self._data())

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data: what ``to_json`` writes."""
        data: dict[str, Any] = self.to_record().model_dump(mode="json")
        return data

    def _data(self) -> dict[str, Any]:
        return _clean(
            {
                "healthy": self.healthy,
                "findings": [f.to_dict() for f in self.findings],
                "plan": [s.to_dict() for s in self.plan],
                "settings": self.settings,
                "overfit": self.overfit,
                "lr_range": self.lr_range,
                "bias_variance": self.bias_variance.to_dict() if self.bias_variance else None,
                "baselines": self.baselines,
                "evidence": self.evidence,
                "seconds": self.seconds,
                "skipped": self.skipped,
            }
        )

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON (NaN and inf become null); also written to ``path`` if given,
        as a :class:`DoctorRecord` (atomically)."""
        record = self.to_record()
        if path is not None:
            write_record(path, record)
        return json.dumps(record.model_dump(mode="json"), indent=2, allow_nan=False)

    def to_html(self, path: str | Path) -> Path:
        """A self-contained HTML page: findings first (most severe first), the plan, then
        the evidence plots (overfit-batch curve, lr range curve, bias-variance bars)."""
        return write_html(
            path,
            verdict=self.verdict(),
            healthy=self.healthy,
            findings=self.ranked(),
            plan=self.plan,
            settings=self.settings,
            seconds=self.seconds,
            skipped=self.skipped,
            bias_variance=self.bias_variance,
            overfit=self.overfit,
            lr_range=self.lr_range,
        )

    def summary(self) -> str:
        """A few readable lines: the verdict, each finding, the first steps of the plan."""
        lines = [self.verdict()]
        for f in self.ranked():
            if f.severity != "info":
                lines.append(f"  [{f.severity}] {f.code}: {f.title}")
                if f.next_step:
                    lines.append(f"      next: {f.next_step}")
        if self.bias_variance is not None:
            row = ", ".join(
                f"{name} {v:.1%}"
                for name, v, _ in self.bias_variance.rows()
                if v is not None and name.endswith(self.bias_variance.metric)
            )
            judged = not any("bias-variance" in line.split(":", 1)[0] for line in self.skipped)
            lines.append(f"  errors{'' if judged else ' (not judged, see skipped)'}: {row}")
        for s in self.skipped:
            lines.append(f"  skipped: {s}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _clean(value: Any) -> Any:
    """JSON-safe: floats rounded, NaN/inf to None, tuples to lists, unknowns to str."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if hasattr(value, "__index__"):  # numpy and torch integers
        try:
            return int(value)
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) or hasattr(value, "__float__"):
        try:
            f = float(value)
        except (TypeError, ValueError):
            return str(value)
        return None if not math.isfinite(f) else float(f"{f:.6g}")
    return str(value)
