"""`dlstack score`: the project graded on "The ML Test Score" rubric (Breck et al., 2017).

28 tests in four sections (data, model, infrastructure, monitoring; 7 each). A test
scores 1 point where dlstack finds an automated check that ran (an artifact with its
result: ingest reports in the lake, `dlstack test` results, the doctor's report, runs,
packages), 0.5 where the user recorded a manual one in ``[score.manual]``, and 0
otherwise. As the paper scores it, the point is for running the test; its result is
shown on the line. The final score is the minimum of the four section sums, read against
the paper's bands. Every line says what evidence was found, or what would add it.

>>> score = score_project(project)  # doctest: +SKIP
>>> score.final, score.band  # doctest: +SKIP
(1.0, 'Not totally untested, but ...')
>>> band_for(0)
'More of a research project than a productionized system.'

Evidence is read, never assumed: a setting that exists is not a check that ran. The
readers are in ``_score_evidence``, the 28 checks in ``_score_checks``,
``_score_online`` (offline vs online, from people's labels only) and ``_score_checks_ops``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.config import SCORE_BANDS as BANDS
from dlstack.config import SCORE_SECTIONS as SECTIONS
from dlstack.config import SCORE_TESTS as TESTS
from dlstack.evaluate._records import ScoreRecord
from dlstack.evaluate._score_checks import AUTOMATED, MANUAL
from dlstack.evaluate._score_checks_ops import CHECKS
from dlstack.evaluate._score_evidence import Evidence
from dlstack.records import write_record

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.layout import Layout

__all__ = ["ScoreLine", "TestScore", "band_for", "rubric", "score_project"]


@dataclass(frozen=True)
class ScoreLine:
    """One rubric test: its points and why."""

    id: str
    section: str
    title: str
    points: float  # 1 automated, 0.5 manual, 0 missing
    evidence: str  # what was found (the check and its result), or "" when nothing
    advice: str = ""  # what would add (or automate) it

    @property
    def status(self) -> str:
        return {AUTOMATED: "automated", MANUAL: "manual"}.get(self.points, "missing")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "section": self.section,
            "title": self.title,
            "points": self.points,
            "status": self.status,
            "evidence": self.evidence,
            "advice": self.advice,
        }


@dataclass
class TestScore:
    """The 28 lines, the four section sums, and the final score with its band."""

    lines: list[ScoreLine]
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    __test__ = False  # not a pytest test class, despite the name

    @property
    def sections(self) -> dict[str, float]:
        return {s: sum(x.points for x in self.lines if x.section == s) for s in SECTIONS}

    @property
    def final(self) -> float:
        """The minimum of the section sums: a system is as ready as its weakest part."""
        return min(self.sections.values())

    @property
    def band(self) -> str:
        return band_for(self.final)

    def to_record(self) -> ScoreRecord:
        return ScoreRecord.model_validate(
            {
                "created": self.created,
                "final": self.final,
                "band": self.band,
                "sections": self.sections,
                "lines": [x.to_dict() for x in self.lines],
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (what the HTML report and ``write_json`` use)."""
        data: dict[str, Any] = self.to_record().model_dump(mode="json")
        return data

    def write_json(self, layout: Layout) -> Path:
        """``.dlstack/score/score.json`` (a :class:`ScoreRecord`), atomically."""
        return write_record(layout.score_file, self.to_record())


def band_for(score: float) -> str:
    """The paper's reading of a final score."""
    for upper, text in BANDS:
        if score <= upper:
            return text
    return BANDS[-1][1]


def rubric() -> list[tuple[str, str, str]]:
    """(id, section, title) of the 28 tests, in the paper's order."""
    return list(TESTS)


def score_project(project: Project) -> TestScore:
    """Grade ``project`` on the 28 tests from the artifacts it holds and ``[score.manual]``."""
    ev = Evidence(project, project)
    manual = project.config.score.manual
    lines = []
    for test_id, section, title in TESTS:
        points, evidence, advice = CHECKS[test_id](ev)
        if points < MANUAL and test_id in manual:
            m = manual[test_id]
            when = " ".join(x for x in (m.date, f"by {m.by}" if m.by else None) if x)
            points = MANUAL
            evidence = f"manual: {m.description}" + (f" ({when})" if when else "")
            advice = advice or "automate it for a full point"
        elif points < MANUAL and not advice:
            advice = "record a manual check in [score.manual]"
        lines.append(ScoreLine(test_id, section, title, points, evidence, advice))
    return TestScore(lines)
