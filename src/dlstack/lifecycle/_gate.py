"""The release gate: four verdicts on a freshly exported package, and one decision.

    tests        every `dlstack test` check of the package held ([tests], built-ins)
    doctor       the doctor found no error or warning
    constraints  the model meets every [metric] constraint (latency and size included)
    baselines    the model beats every baseline under the objective's ranking

``[gate] required`` (default: tests, baselines) decides which of them fail the release: a
required gate that failed, or did not run, fails it. `dlstack run` writes the verdict as
``gate.json`` beside the package's ``model.json`` (:func:`dlstack.package.read_gate`
reads it back), prints one line per gate and exits 1 when the release failed; `dlstack
serve` then serves the newest package that passed.

>>> GATE_HEADERS
('gate', 'required', 'verdict', 'detail')
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dlstack.lifecycle._verdicts import MODEL_ROW
from dlstack.lifecycle._verdicts import verdict as baseline_verdict

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.doctor import Report
    from dlstack.evaluate import EvalTestReport, EvaluationDetails
    from dlstack.package import GateCheck, GateVerdict
    from dlstack.report import HtmlReport, Kind

__all__ = [
    "GATE_HEADERS",
    "gate_kind",
    "gate_rows",
    "gate_section",
    "judge_release",
    "release_gate",
]

GATE_HEADERS = ("gate", "required", "verdict", "detail")
_NAMED = 4  # failed checks named on a line; the rest are counted


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_NAMED])
    return shown + (f" and {len(items) - _NAMED} more" if len(items) > _NAMED else "")


def _tests(tests: EvalTestReport | None) -> tuple[bool, bool, str]:
    if tests is None:
        return False, False, "not run: the package was not tested (`dlstack test`)"
    failed = [c.name for c in tests.failures]
    if failed:
        return (
            True,
            False,
            f"{len(failed)} of {len(tests.checks)} checks FAILED on the {tests.split} split: "
            f"{_names(failed)}",
        )
    return True, True, f"all {len(tests.checks)} checks held on the {tests.split} split"


def _doctor(doctor: Report | None) -> tuple[bool, bool, str]:
    if doctor is None:
        return False, False, "not run: the doctor was skipped (--doctor-budget 0)"
    return True, doctor.healthy, doctor.verdict()


def _constraints(details: EvaluationDetails | None) -> tuple[bool, bool, str]:
    if details is None:
        return False, False, "not run: the model was not evaluated"
    constraints = details.objective.constraints
    if not constraints:
        return True, True, "no constraints declared ([metric] constraints)"
    score = details.model_score
    if not score.feasible:
        return True, False, f"the model {score.describe()}"
    if score.unchecked:
        return (
            True,
            False,
            f"cannot check {', '.join(score.unchecked)}: the model lacks the metric "
            f"(latency and size come from `dlstack test`)",
        )
    return True, True, "meets " + ", ".join(c.text for c in constraints)


def _baselines(details: EvaluationDetails | None) -> tuple[bool, bool, str]:
    if details is None:
        return False, False, "not run: the model was not evaluated"
    others = [r.name for r in details.ranking if r.name != MODEL_ROW]
    if not others:
        return False, False, "not run: no baseline was computed"
    lost = details.not_beaten
    if lost:
        # verdict() says "NOT BEATEN: <objective> <model> vs <baseline>"; the gate line
        # already says that much, so only the numbers follow the name.
        texts = [
            f"{name} ({baseline_verdict(details, name)[1].removeprefix('NOT BEATEN: ')})"
            for name in lost
        ]
        return True, False, f"does not beat {_names(texts)}"
    return (
        True,
        True,
        f"beats all {len(others)} baselines ({details.objective.describe()})",
    )


def judge_release(
    project: Project,
    package: str | Path,
    *,
    tests: EvalTestReport | None = None,
    details: EvaluationDetails | None = None,
    doctor: Report | None = None,
) -> GateVerdict:
    """The gate's verdict on ``package`` from what the stages found (None: did not run)."""
    from dlstack.package import SPEC_FILE, GateCheck, GateVerdict, read_spec

    required = set(project.config.gate.required)
    found = {
        "tests": _tests(tests),
        "doctor": _doctor(doctor),
        "constraints": _constraints(details),
        "baselines": _baselines(details),
    }
    gates: list[GateCheck] = [
        GateCheck(name=name, required=name in required, passed=passed, ran=ran, detail=detail)
        for name, (ran, passed, detail) in found.items()
    ]
    spec = read_spec(Path(package) / SPEC_FILE)
    return GateVerdict(
        name=spec.name,
        version=spec.version,
        onnx_sha256=spec.onnx.sha256,
        passed=all(g.passed for g in gates if g.required),
        gates=gates,
    )


def release_gate(
    project: Project,
    package: str | Path,
    *,
    tests: EvalTestReport | None = None,
    details: EvaluationDetails | None = None,
    doctor: Report | None = None,
) -> GateVerdict:
    """:func:`judge_release`, written as ``gate.json`` beside the package's model.json."""
    from dlstack.package import write_gate

    verdict = judge_release(project, package, tests=tests, details=details, doctor=doctor)
    write_gate(package, verdict)
    return verdict


def gate_rows(verdict: GateVerdict) -> list[tuple[str, ...]]:
    """One row of strings per gate, headed by ``GATE_HEADERS`` (for rich and HTML tables)."""
    return [
        (g.name, "required" if g.required else "reported", g.status, g.detail)
        for g in verdict.gates
    ]


def gate_kind(check: GateCheck) -> Kind:
    """good / bad / warn / info: a row's colour (a failed report-only gate is a warning)."""
    if check.passed:
        return "good"
    return "bad" if check.required else ("warn" if check.ran else "info")


def gate_section(report: HtmlReport, verdict: GateVerdict) -> None:
    """report.html's "Release gate": the decision, then one row per gate."""
    s = report.section("Release gate")
    if verdict.passed:
        s.paragraph(
            f"{verdict.name} v{verdict.version} {verdict.summary()}: `dlstack serve` serves "
            f"it when no version is named.",
            kind="good",
        )
    else:
        s.paragraph(
            f"{verdict.name} v{verdict.version} {verdict.summary()} (required by [gate]). "
            f"`dlstack run` exits 1, and `dlstack serve` serves the newest version that "
            f"passed instead (or this one with --allow-failed).",
            kind="bad",
        )
    s.table(
        list(GATE_HEADERS),
        [list(row) for row in gate_rows(verdict)],
        row_kinds=[gate_kind(g) for g in verdict.gates],
    )
