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

Evidence is read, never assumed: a setting that exists is not a check that ran.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.config import SCORE_BANDS as BANDS
from dlstack.config import SCORE_SECTIONS as SECTIONS
from dlstack.config import SCORE_TEST_IDS as TEST_IDS
from dlstack.config import SCORE_TESTS as TESTS

if TYPE_CHECKING:
    from dlstack.config import Project

__all__ = [
    "EVALUATION_RECORD",
    "SCORE_DIR",
    "ScoreLine",
    "TestScore",
    "band_for",
    "rubric",
    "score_project",
]

SCORE_DIR = "score"  # under .dlstack/: score.json
EVALUATION_RECORD = "evaluation.json"  # in a run dir: write_evaluation_record's output
DOCTOR_REPORT = Path("doctor") / "report.json"  # under .dlstack/ (dlstack.doctor)
TUNE_DIR = "tune"  # under .dlstack/: a tuning stage's results (*.json with "trials")
AUTOMATED, MANUAL, MISSING = 1.0, 0.5, 0.0


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "created": self.created,
            "final": self.final,
            "band": self.band,
            "sections": self.sections,
            "lines": [x.to_dict() for x in self.lines],
        }

    def write_json(self, project: Project) -> Path:
        from dlstack.report import write_atomic

        path = project.state_dir / SCORE_DIR / "score.json"
        return write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")


def band_for(score: float) -> str:
    """The paper's reading of a final score."""
    for upper, text in BANDS:
        if score <= upper:
            return text
    return BANDS[-1][1]


def rubric() -> list[tuple[str, str, str]]:
    """(id, section, title) of the 28 tests, in the paper's order."""
    return list(TESTS)


# -- evidence -------------------------------------------------------------------------------


class _Evidence:
    """The project's artifacts, read once each, on demand."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.state = project.state_dir

    @cached_property
    def runs(self) -> list[dict[str, Any]]:
        """run.json of every run, oldest first, with ``_dir``."""
        out: list[dict[str, Any]] = []
        if not self.project.runs_dir.is_dir():
            return out
        for run_file in sorted(self.project.runs_dir.glob("*/run.json")):
            record = _read_json(run_file)
            if isinstance(record, dict):
                record["_dir"] = str(run_file.parent)
                out.append(record)
        return sorted(out, key=lambda r: (float(r.get("started_at") or 0), str(r.get("run_id"))))

    @cached_property
    def finished_runs(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r.get("status") == "finished"]

    @cached_property
    def packages(self) -> list[dict[str, Any]]:
        """model.json of every package version, with ``_dir``; by name, then version."""
        out: list[dict[str, Any]] = []
        if not self.project.models_dir.is_dir():
            return out
        for spec_file in self.project.models_dir.glob("*/*/model.json"):
            if not spec_file.parent.name.isdigit():
                continue
            spec = _read_json(spec_file)
            if isinstance(spec, dict):
                spec["_dir"] = str(spec_file.parent)
                out.append(spec)
        return sorted(out, key=lambda s: (str(s.get("name")), int(s.get("version") or 0)))

    @cached_property
    def test_results(self) -> list[dict[str, Any]]:
        from dlstack.evaluate._evaltests import latest_results

        return latest_results(self.project)

    def checks_of(self, kind: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(result, check) for every saved `dlstack test` check of ``kind``, newest first."""
        return [
            (r, c) for r in self.test_results for c in r.get("checks", []) if c.get("kind") == kind
        ]

    @cached_property
    def pytest_results(self) -> list[dict[str, Any]]:
        folder = self.state / "tests"
        if not folder.is_dir():
            return []
        found = [_read_json(p) for p in sorted(folder.glob("pytest-*.json"), reverse=True)]
        return [r for r in found if isinstance(r, dict) and r.get("kind") == "pytest"]

    @cached_property
    def doctor(self) -> dict[str, Any] | None:
        candidates = [self.state / DOCTOR_REPORT]
        for run in reversed(self.runs):
            candidates += sorted(Path(run["_dir"]).glob("doctor*/report.json"))
            candidates += sorted(Path(run["_dir"]).glob("doctor*.json"))
        for path in candidates:
            record = _read_json(path)
            if isinstance(record, dict) and "findings" in record:
                record["_path"] = str(path)
                return record
        return None

    @cached_property
    def evaluation(self) -> dict[str, Any] | None:
        """The newest run's evaluation record (baselines, slices, objective)."""
        for run in reversed(self.runs):
            record = _read_json(Path(run["_dir"]) / EVALUATION_RECORD)
            if isinstance(record, dict):
                record["_run"] = run.get("run_id")
                return record
        return None

    @cached_property
    def lake_datasets(self) -> dict[str, Any]:
        """Lake dataset name -> Arrow table, for the datasets score reads."""
        try:
            from dlstack.data import Lake

            lake = Lake(self.project.lake_url, **self.project.lake_options)
            names = lake.datasets()
        except Exception:  # an unreachable lake is "no evidence", not a crash
            return {}
        out: dict[str, Any] = {}
        for name in ("ingest_reports", "predictions", "prediction_logs"):
            if name in names:
                try:
                    out[name] = lake.read(name)
                except Exception:
                    continue
        return out

    @cached_property
    def tune_results(self) -> list[dict[str, Any]]:
        folder = self.state / TUNE_DIR
        if not folder.is_dir():
            return []
        found = [_read_json(p) for p in folder.rglob("*.json")]
        return [r for r in found if isinstance(r, dict) and int(r.get("trials") or 0) > 0]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


Found = tuple[float, str, str]  # points, evidence, advice


# -- the 28 checks --------------------------------------------------------------------------


def _data_schema(ev: _Evidence) -> Found:
    table = ev.lake_datasets.get("ingest_reports")
    if table is not None and table.num_rows:
        rows = table.to_pylist()
        seen = sum(int(r.get("seen") or 0) for r in rows)
        rejected = sum(int(r.get("rejected") or 0) for r in rows)
        return (
            AUTOMATED,
            f"{len(rows)} ingest(s) checked {seen:,} examples against the schema (declared "
            f"classes, image size, decodable image, split names); {rejected} rejected",
            "",
        )
    return MISSING, "", "ingest data with `dlstack data ingest`: every example is checked"


def _manual_only(advice: str) -> Callable[[_Evidence], Found]:
    def check(ev: _Evidence) -> Found:
        return MISSING, "", advice

    return check


def _feature_code_tested(ev: _Evidence) -> Found:
    found = ev.checks_of("skew")
    if found:
        result, check = found[0]
        return (
            AUTOMATED,
            f"`dlstack test` ran the input code both ways on {result.get('name')} "
            f"v{result.get('version')}: {check.get('detail')} ({_verdict(check)})",
            "",
        )
    return MISSING, "", "run `dlstack test PACKAGE`: it tests serving preprocessing vs training"


def _spec_reviewed(ev: _Evidence) -> Found:
    if not ev.finished_runs:
        return MISSING, "", "train with `dlstack train` from a git repository"
    latest = ev.finished_runs[-1]
    code = str(latest.get("code_version") or "")
    if not code or code.startswith("dlstack-"):
        return MISSING, "", "keep the project in git: runs then record the commit they came from"
    if "-dirty" in code:
        return (
            MISSING,
            f"run {latest.get('run_id')} was trained from uncommitted changes ({code})",
            "commit the model spec before training, so every run names reviewed code",
        )
    return (
        AUTOMATED,
        f"run {latest.get('run_id')} was trained from committed code {code} (dlstack checks "
        f"git status at training time); the review itself is your team's process",
        "",
    )


def _offline_online(ev: _Evidence) -> Found:
    for name in ("predictions", "prediction_logs"):
        table = ev.lake_datasets.get(name)
        if table is not None and "label" in table.column_names:
            labelled = sum(1 for v in table.column("label").to_pylist() if v is not None)
            if labelled:
                return (
                    AUTOMATED,
                    f"{labelled:,} served predictions have labels in the lake ({name})",
                    "",
                )
    return (
        MISSING,
        "",
        "serve with prediction logging and send labels back; online accuracy can then be "
        "compared with the test set's",
    )


def _tuned(ev: _Evidence) -> Found:
    if ev.tune_results:
        trials = sum(int(r.get("trials") or 0) for r in ev.tune_results)
        return AUTOMATED, f"{len(ev.tune_results)} tuning result(s), {trials} trials", ""
    return MISSING, "", "tune hyperparameters with `dlstack tune` (its results count here)"


def _simpler_not_better(ev: _Evidence) -> Found:
    record = ev.evaluation
    if record and record.get("baselines"):
        beaten = [b for b in record["baselines"] if b.get("beaten")]
        not_beaten = [b["name"] for b in record["baselines"] if not b.get("beaten")]
        result = (
            f"beats all {len(beaten)}"
            if not not_beaten
            else f"FAILED: does not beat {', '.join(not_beaten)}"
        )
        return (
            AUTOMATED,
            f"run {record.get('_run')} was compared with {len(record['baselines'])} simpler "
            f"models on the {record.get('split', 'test')} split: {result}",
            "",
        )
    if ev.doctor and ev.doctor.get("baselines"):
        return AUTOMATED, f"the doctor compared the model with baselines ({ev.doctor['_path']})", ""
    return MISSING, "", "run `dlstack evaluate` (or `dlstack run`): it compares with baselines"


def _slices(ev: _Evidence) -> Found:
    found = ev.checks_of("slice")
    if found:
        result = found[0][0]
        checks = [c for r, c in found if r is result]
        failed = [c["name"] for c in checks if not c.get("passed")]
        return (
            AUTOMATED,
            f"`dlstack test` checked {len(checks)} slice requirement(s) on {result.get('name')} "
            f"v{result.get('version')}: "
            + (f"FAILED {', '.join(failed)}" if failed else "all held"),
            "",
        )
    return MISSING, "", "declare [[tests.slices]] (e.g. by = 'class') and run `dlstack test`"


def _inclusion(ev: _Evidence) -> Found:
    found = [(r, c) for r, c in ev.checks_of("slice") if not c["name"].startswith("every class ")]
    if found:
        result, check = found[0]
        return (
            AUTOMATED,
            f"`dlstack test` checked '{check['name']}' on {result.get('name')} "
            f"v{result.get('version')} ({_verdict(check)})",
            "",
        )
    return (
        MISSING,
        "",
        "record who the data comes from (e.g. a writer or region column in the ingest "
        "manifest) and declare [[tests.slices]] by that key",
    )


def _reproducible(ev: _Evidence) -> Found:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in ev.finished_runs:
        code = str(run.get("code_version") or "")
        key = (str(run.get("data_version")), code, json.dumps(run.get("config"), sort_keys=True))
        groups.setdefault(key, []).append(run)
    pairs = [
        g for g in groups.values() if len(g) >= 2 and "-dirty" not in next(iter(g))["code_version"]
    ]
    if not pairs:
        return (
            MISSING,
            "",
            "train twice from the same commit, config and data version; dlstack compares "
            "the two runs' metrics",
        )
    first, second = pairs[-1][-2], pairs[-1][-1]
    a = (first.get("history") or [{}])[-1]
    b = (second.get("history") or [{}])[-1]
    keys = [k for k in a if k != "epoch" and k in b]
    gap = max((abs(float(a[k]) - float(b[k])) for k in keys), default=float("nan"))
    result = "identical" if gap <= 1e-6 else f"differ by up to {gap:.3g}"
    return (
        AUTOMATED,
        f"runs {first.get('run_id')} and {second.get('run_id')} share code, config and data; "
        f"their final metrics are {result}",
        "" if gap <= 1e-6 else "fix the seeds and nondeterministic ops until the runs agree",
    )


def _spec_unit_tested(ev: _Evidence) -> Found:
    if ev.doctor is not None:
        problems = [
            str(f.get("code", "?"))
            for f in ev.doctor.get("findings", [])
            if f.get("severity") in ("error", "warning")
        ]
        result = "healthy" if not problems else "findings: " + ", ".join(problems)
        return (
            AUTOMATED,
            f"the doctor ran its model checks (runs, overfits one batch...): {result}",
            "",
        )
    if ev.pytest_results:
        r = ev.pytest_results[0]
        return AUTOMATED, f"model tests via the dlstack pytest plugin: {_pytest_summary(r)}", ""
    return MISSING, "", "run `dlstack doctor` or write model tests with the dlstack pytest plugin"


def _integration_tested(ev: _Evidence) -> Found:
    built = {str(s.get("run_id")) for s in ev.packages}
    for run in reversed(ev.finished_runs):
        run_dir = Path(run["_dir"])
        evaluated = (run_dir / "report.html").is_file() or (run_dir / EVALUATION_RECORD).is_file()
        if str(run.get("run_id")) in built and evaluated:
            return (
                AUTOMATED,
                f"run {run.get('run_id')} went through the whole pipeline (data version "
                f"{str(run.get('data_version'))[:12]} -> training -> evaluation -> checked "
                f"package)",
                "",
            )
    if ev.pytest_results:
        return AUTOMATED, f"pipeline tests via pytest: {_pytest_summary(ev.pytest_results[0])}", ""
    return MISSING, "", "run the whole lifecycle with `dlstack run` (in CI on a small dataset)"


def _validated(ev: _Evidence) -> Found:
    if ev.test_results:
        r = ev.test_results[0]
        failed = [c["name"] for c in r["checks"] if not c.get("passed")]
        result = f"FAILED {', '.join(failed)}" if failed else f"all {len(r['checks'])} checks held"
        return (
            AUTOMATED,
            f"`dlstack test` validated {r.get('name')} v{r.get('version')}: {result}",
            "",
        )
    if ev.packages:
        p = ev.packages[-1]
        return (
            AUTOMATED,
            f"{p.get('name')} v{p.get('version')} passed export's check (ONNX Runtime "
            f"outputs equal torch's) before it was written",
            "add quality gates: declare [tests] and run `dlstack test PACKAGE` in CI",
        )
    return MISSING, "", "export a package (`dlstack export`) and run `dlstack test PACKAGE`"


def _debuggable(ev: _Evidence) -> Found:
    if ev.doctor is not None:
        findings = len(ev.doctor.get("findings", []))
        return AUTOMATED, f"the doctor examined the model: {findings} finding(s)", ""
    return MISSING, "", "run `dlstack doctor`: it steps through the model and its training"


def _rollback(ev: _Evidence) -> Found:
    from dlstack.package import load_package

    by_name: dict[str, list[dict[str, Any]]] = {}
    for spec in ev.packages:
        by_name.setdefault(str(spec.get("name")), []).append(spec)
    for name, versions in by_name.items():
        if len(versions) < 2:
            continue
        previous = versions[-2]
        try:
            load_package(previous["_dir"])
        except Exception as e:
            return (
                MISSING,
                f"{name} v{previous.get('version')} does not load ({e})",
                "keep earlier package versions intact: they are the rollback targets",
            )
        return (
            AUTOMATED,
            f"{name} has {len(versions)} versions; the previous one (v{previous.get('version')}) "
            f"loads and can serve again",
            "",
        )
    return MISSING, "", "keep at least two package versions (`dlstack export` numbers them)"


def _from_check(kind: str, what: str, advice: str) -> Callable[[_Evidence], Found]:
    def check(ev: _Evidence) -> Found:
        found = ev.checks_of(kind)
        if not found:
            return MISSING, "", advice
        result, c = found[0]
        return (
            AUTOMATED,
            f"{what} ran on {result.get('name')} v{result.get('version')}: {c.get('name')} "
            f"({_verdict(c)}; {c.get('detail') or 'measured ' + str(c.get('measured'))})",
            "",
        )

    return check


def _verdict(check: dict[str, Any]) -> str:
    return "held" if check.get("passed") else "FAILED"


def _pytest_summary(record: dict[str, Any]) -> str:
    return (
        f"{record.get('passed', 0)} passed, {record.get('failed', 0)} failed on "
        f"{record.get('created', '?')}"
    )


_CHECKS: dict[str, Callable[[_Evidence], Found]] = {
    "data-schema": _data_schema,
    "data-features-beneficial": _manual_only(
        "raw pixels are the features here; record an ablation or review in [score.manual]"
    ),
    "data-feature-cost": _manual_only(
        "measure what each input costs (latency, memory, upkeep) and record it in [score.manual]"
    ),
    "data-feature-requirements": _manual_only(
        "check inputs against policy (no personal data, allowed sources); record it in "
        "[score.manual]"
    ),
    "data-privacy": _manual_only(
        "review access to the store, catalog and lake; record the review in [score.manual]"
    ),
    "data-new-features": _manual_only(
        "time how long a new input or data step takes to reach a trained model; record it"
    ),
    "data-feature-code-tested": _feature_code_tested,
    "model-spec-reviewed": _spec_reviewed,
    "model-offline-online": _offline_online,
    "model-hyperparameters-tuned": _tuned,
    "model-staleness-known": _manual_only(
        "train on an older data version and test on the newest to see how fast quality decays"
    ),
    "model-simpler-not-better": _simpler_not_better,
    "model-slices": _slices,
    "model-inclusion": _inclusion,
    "infra-reproducible": _reproducible,
    "infra-spec-unit-tested": _spec_unit_tested,
    "infra-integration-tested": _integration_tested,
    "infra-validated-before-serving": _validated,
    "infra-debuggable": _debuggable,
    "infra-canary": _manual_only(
        "send a small share of traffic to a new version first; dlstack serve does not yet"
    ),
    "infra-rollback": _rollback,
    "monitor-dependencies": _manual_only(
        "pin dependencies and get notified when they change (e.g. a lock file and a bot)"
    ),
    "monitor-data-invariants": _manual_only(
        "ingest checks cover training data; check served inputs the same way (serving logs)"
    ),
    "monitor-skew": _from_check(
        "skew", "the training/serving skew check", "run `dlstack test PACKAGE`"
    ),
    "monitor-staleness": _from_check(
        "staleness", "the staleness check", "set [tests] max_age_days and run `dlstack test`"
    ),
    "monitor-numerical-stability": _from_check(
        "stability", "the numerical stability check", "run `dlstack test PACKAGE`"
    ),
    "monitor-compute-regression": _from_check(
        "latency_regression",
        "the latency regression check (against the previous package version)",
        "export a second version and run `dlstack test` on it",
    ),
    "monitor-quality-regression": _from_check(
        "regression",
        "the quality regression check (against the previous package version)",
        "export a second version and run `dlstack test` on it",
    ),
}
assert tuple(_CHECKS) == TEST_IDS


def score_project(project: Project) -> TestScore:
    """Grade ``project`` on the 28 tests from the artifacts it holds and ``[score.manual]``."""
    ev = _Evidence(project)
    manual = project.config.score.manual
    lines = []
    for test_id, section, title in TESTS:
        points, evidence, advice = _CHECKS[test_id](ev)
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
