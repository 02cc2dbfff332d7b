"""The 28 tests of "The ML Test Score", each a function of the :class:`Evidence`.

A check returns ``(points, evidence, advice)``: 1 point (:data:`AUTOMATED`) where an
automated check ran, with what it found; 0 (:data:`MISSING`) and what would add it
otherwise. The manual half point is `score_project`'s, from ``[score.manual]``. The
data and model sections are here (offline vs online in ``_score_online``); infrastructure
and monitoring in ``_score_checks_ops``.

>>> import tempfile
>>> from dlstack.layout import Layout
>>> points, evidence, advice = spec_reviewed(Evidence(Layout(tempfile.mkdtemp())))
>>> points, advice
(0.0, 'train with `dlstack train` from a git repository')
"""

from __future__ import annotations

from collections.abc import Callable

from dlstack.evaluate._records import EvalCheckRecord
from dlstack.evaluate._score_evidence import INGEST_REPORTS, Evidence

__all__ = [
    "AUTOMATED",
    "MANUAL",
    "MISSING",
    "Check",
    "Found",
    "data_schema",
    "feature_code_tested",
    "from_check",
    "inclusion",
    "manual_only",
    "simpler_not_better",
    "slices",
    "spec_reviewed",
    "tuned",
    "verdict",
]

AUTOMATED, MANUAL, MISSING = 1.0, 0.5, 0.0

Found = tuple[float, str, str]  # points, evidence, advice
Check = Callable[[Evidence], Found]


def verdict(check: EvalCheckRecord) -> str:
    return "held" if check.passed else "FAILED"


def manual_only(advice: str) -> Check:
    """A test no artifact can show: only ``[score.manual]`` earns it (half a point)."""

    def check(ev: Evidence) -> Found:
        return MISSING, "", advice

    return check


def from_check(kind: str, what: str, advice: str) -> Check:
    """A point for the newest `dlstack test` check of ``kind``, with its result."""

    def check(ev: Evidence) -> Found:
        found = ev.checks_of(kind)
        if not found:
            return MISSING, "", advice
        result, c = found[0]
        return (
            AUTOMATED,
            f"{what} ran on {result.name} v{result.version}: {c.name} "
            f"({verdict(c)}; {c.detail or 'measured ' + str(c.measured)})",
            "",
        )

    return check


# -- data -----------------------------------------------------------------------------------


def data_schema(ev: Evidence) -> Found:
    table = ev.lake_datasets.get(INGEST_REPORTS)
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


def feature_code_tested(ev: Evidence) -> Found:
    found = ev.checks_of("skew")
    if found:
        result, check = found[0]
        return (
            AUTOMATED,
            f"`dlstack test` ran the input code both ways on {result.name} "
            f"v{result.version}: {check.detail} ({verdict(check)})",
            "",
        )
    return MISSING, "", "run `dlstack test PACKAGE`: it tests serving preprocessing vs training"


# -- model ----------------------------------------------------------------------------------


def spec_reviewed(ev: Evidence) -> Found:
    if not ev.finished_runs:
        return MISSING, "", "train with `dlstack train` from a git repository"
    latest = ev.finished_runs[-1].record
    code = latest.code_version
    if not code or code.startswith("dlstack-"):
        return MISSING, "", "keep the project in git: runs then record the commit they came from"
    if "-dirty" in code:
        return (
            MISSING,
            f"run {latest.run_id} was trained from uncommitted changes ({code})",
            "commit the model spec before training, so every run names reviewed code",
        )
    return (
        AUTOMATED,
        f"run {latest.run_id} was trained from committed code {code} (dlstack checks "
        f"git status at training time); the review itself is your team's process",
        "",
    )


def tuned(ev: Evidence) -> Found:
    if ev.tune_results:
        trials = sum(int(r["trials"]) for r in ev.tune_results)
        return AUTOMATED, f"{len(ev.tune_results)} tuning result(s), {trials} trials", ""
    return MISSING, "", "tune hyperparameters with `dlstack tune` (its results count here)"


def simpler_not_better(ev: Evidence) -> Found:
    if ev.evaluation is not None and ev.evaluation[1].baselines:
        run_id, record = ev.evaluation
        beaten = [b for b in record.baselines if b.beaten]
        not_beaten = [b.name for b in record.baselines if not b.beaten]
        result = (
            f"beats all {len(beaten)}"
            if not not_beaten
            else f"FAILED: does not beat {', '.join(not_beaten)}"
        )
        return (
            AUTOMATED,
            f"run {run_id} was compared with {len(record.baselines)} simpler models on the "
            f"{record.split} split: {result}",
            "",
        )
    if ev.doctor is not None and ev.doctor[1].baselines:
        return AUTOMATED, f"the doctor compared the model with baselines ({ev.doctor[0]})", ""
    return MISSING, "", "run `dlstack evaluate` (or `dlstack run`): it compares with baselines"


def slices(ev: Evidence) -> Found:
    found = ev.checks_of("slice")
    if found:
        result = found[0][0]
        checks = [c for r, c in found if r is result]
        failed = [c.name for c in checks if not c.passed]
        return (
            AUTOMATED,
            f"`dlstack test` checked {len(checks)} slice requirement(s) on {result.name} "
            f"v{result.version}: " + (f"FAILED {', '.join(failed)}" if failed else "all held"),
            "",
        )
    return MISSING, "", "declare [[tests.slices]] (e.g. by = 'class') and run `dlstack test`"


def inclusion(ev: Evidence) -> Found:
    found = [(r, c) for r, c in ev.checks_of("slice") if not c.name.startswith("every class ")]
    if found:
        result, check = found[0]
        return (
            AUTOMATED,
            f"`dlstack test` checked '{check.name}' on {result.name} v{result.version} "
            f"({verdict(check)})",
            "",
        )
    return (
        MISSING,
        "",
        "record who the data comes from (e.g. a writer or region column in the ingest "
        "manifest) and declare [[tests.slices]] by that key",
    )
