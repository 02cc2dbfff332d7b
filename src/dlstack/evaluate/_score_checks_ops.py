"""The ML Test Score's infrastructure and monitoring tests (data and model are in
``_score_checks``), and :data:`CHECKS`: every test id, in the paper's order, to its check.

>>> from dlstack.config import SCORE_TEST_IDS
>>> tuple(CHECKS) == SCORE_TEST_IDS
True
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dlstack.evaluate._score_checks import (
    AUTOMATED,
    MISSING,
    Check,
    Found,
    data_schema,
    feature_code_tested,
    from_check,
    inclusion,
    manual_only,
    simpler_not_better,
    slices,
    spec_reviewed,
    tuned,
)
from dlstack.evaluate._score_evidence import Evidence, PackageEvidence, RunEvidence
from dlstack.evaluate._score_online import offline_online
from dlstack.layout import EVALUATION_FILE, REPORT_FILE

if TYPE_CHECKING:
    from dlstack.package import GateVerdict

__all__ = [
    "CHECKS",
    "debuggable",
    "integration_tested",
    "reproducible",
    "rollback",
    "spec_unit_tested",
    "validated",
]


def reproducible(ev: Evidence) -> Found:
    groups: dict[tuple[str, str, str], list[RunEvidence]] = {}
    for run in ev.finished_runs:
        r = run.record
        key = (r.data_version, r.code_version, json.dumps(r.config, sort_keys=True))
        groups.setdefault(key, []).append(run)
    pairs = [g for g in groups.values() if len(g) >= 2 and "-dirty" not in g[0].record.code_version]
    if not pairs:
        return (
            MISSING,
            "",
            "train twice from the same commit, config and data version; dlstack compares "
            "the two runs' metrics",
        )
    first, second = pairs[-1][-2].record, pairs[-1][-1].record
    a = first.history[-1] if first.history else {}
    b = second.history[-1] if second.history else {}
    keys = [k for k in a if k != "epoch" and a[k] is not None and b.get(k) is not None]
    gap = max((abs(float(a[k]) - float(b[k])) for k in keys), default=float("nan"))
    result = "identical" if gap <= 1e-6 else f"differ by up to {gap:.3g}"
    return (
        AUTOMATED,
        f"runs {first.run_id} and {second.run_id} share code, config and data; "
        f"their final metrics are {result}",
        "" if gap <= 1e-6 else "fix the seeds and nondeterministic ops until the runs agree",
    )


def spec_unit_tested(ev: Evidence) -> Found:
    if ev.doctor is not None:
        problems = ev.doctor[1].problems
        result = "healthy" if not problems else "findings: " + ", ".join(problems)
        return (
            AUTOMATED,
            f"the doctor ran its model checks (runs, overfits one batch...): {result}",
            "",
        )
    if ev.pytest_results:
        summary = ev.pytest_results[0].summary()
        return AUTOMATED, f"model tests via the dlstack pytest plugin: {summary}", ""
    return MISSING, "", "run `dlstack doctor` or write model tests with the dlstack pytest plugin"


def integration_tested(ev: Evidence) -> Found:
    built = {p.spec.run_id for p in ev.packages if p.spec.run_id}
    for run in reversed(ev.finished_runs):
        evaluated = (run.dir / REPORT_FILE).is_file() or (run.dir / EVALUATION_FILE).is_file()
        if run.record.run_id in built and evaluated:
            return (
                AUTOMATED,
                f"run {run.record.run_id} went through the whole pipeline (data version "
                f"{run.record.data_version[:12]} -> training -> evaluation -> checked "
                f"package)",
                "",
            )
    if ev.pytest_results:
        summary = ev.pytest_results[0].summary()
        return AUTOMATED, f"pipeline tests via pytest: {summary}", ""
    return MISSING, "", "run the whole lifecycle with `dlstack run` (in CI on a small dataset)"


def _gate_text(name: str, version: int, verdict: GateVerdict | None, problem: str) -> str:
    if problem:
        return f"{name} v{version}: no readable verdict ({problem})"
    if verdict is None:
        return f"{name} v{version} was never judged by the release gate"
    if not verdict.passed:
        return f"{name} v{version} {verdict.summary()}"
    return f"{name} v{version} passed its release gate, which required nothing"


def _validated(verdict: GateVerdict | None) -> bool:
    """Passed, and by checking something: a gate that requires nothing validates nothing."""
    return verdict is not None and verdict.passed and any(g.required for g in verdict.gates)


def validated(ev: Evidence) -> Found:
    """A point when every package that served passed its release gate before it served
    (or, before anything served, when a package passed it: `dlstack serve` serves only
    those); a served package that failed, or was never judged, withholds it."""
    advice = (
        "let `dlstack run` judge each package ([gate]) and serve without --allow-failed: "
        "`dlstack serve` then serves only packages that passed"
    )
    served = sorted(ev.served.items())
    if served:
        judged = [(name, v, n, *ev.gate_of(name, v)) for (name, v), n in served]
        bad = [_gate_text(name, v, g, p) for name, v, _, g, p in judged if not _validated(g)]
        if bad:
            return MISSING, "served without passing the release gate: " + "; ".join(bad), advice
        versions = ", ".join(f"{name} v{v} ({n:,} predictions)" for name, v, n, _, _ in judged)
        return (
            AUTOMATED,
            f"every served version passed its release gate before serving: {versions}",
            "",
        )
    found = [(p.spec, *ev.gate_of(p.spec.name, p.spec.version)) for p in ev.packages]
    passed = [(spec, g) for spec, g, _ in found if g is not None and _validated(g)]
    if passed:
        spec, verdict = passed[-1]
        return (
            AUTOMATED,
            f"{spec.name} v{spec.version} {verdict.summary()} in its release gate; nothing "
            f"has served yet, and `dlstack serve` serves only packages that passed",
            "",
        )
    judged_texts = [_gate_text(spec.name, spec.version, g, p) for spec, g, p in found if g or p]
    if judged_texts:
        return MISSING, "no package passed its release gate: " + "; ".join(judged_texts), advice
    return MISSING, "", "run `dlstack run`: it tests the package and judges it ([gate])"


def debuggable(ev: Evidence) -> Found:
    if ev.doctor is not None:
        findings = len(ev.doctor[1].findings)
        return AUTOMATED, f"the doctor examined the model: {findings} finding(s)", ""
    return MISSING, "", "run `dlstack doctor`: it steps through the model and its training"


def rollback(ev: Evidence) -> Found:
    from dlstack.package import load_package

    by_name: dict[str, list[PackageEvidence]] = {}
    for package in ev.packages:
        by_name.setdefault(package.spec.name, []).append(package)
    for name, versions in by_name.items():
        if len(versions) < 2:
            continue
        previous = versions[-2]
        try:
            load_package(previous.dir)
        except Exception as e:
            return (
                MISSING,
                f"{name} v{previous.spec.version} does not load ({e})",
                "keep earlier package versions intact: they are the rollback targets",
            )
        return (
            AUTOMATED,
            f"{name} has {len(versions)} versions; the previous one (v{previous.spec.version}) "
            f"loads and can serve again",
            "",
        )
    return MISSING, "", "keep at least two package versions (`dlstack export` numbers them)"


CHECKS: dict[str, Check] = {
    "data-schema": data_schema,
    "data-features-beneficial": manual_only(
        "raw pixels are the features here; record an ablation or review in [score.manual]"
    ),
    "data-feature-cost": manual_only(
        "measure what each input costs (latency, memory, upkeep) and record it in [score.manual]"
    ),
    "data-feature-requirements": manual_only(
        "check inputs against policy (no personal data, allowed sources); record it in "
        "[score.manual]"
    ),
    "data-privacy": manual_only(
        "review access to the store, catalog and lake; record the review in [score.manual]"
    ),
    "data-new-features": manual_only(
        "time how long a new input or data step takes to reach a trained model; record it"
    ),
    "data-feature-code-tested": feature_code_tested,
    "model-spec-reviewed": spec_reviewed,
    "model-offline-online": offline_online,
    "model-hyperparameters-tuned": tuned,
    "model-staleness-known": manual_only(
        "train on an older data version and test on the newest to see how fast quality decays"
    ),
    "model-simpler-not-better": simpler_not_better,
    "model-slices": slices,
    "model-inclusion": inclusion,
    "infra-reproducible": reproducible,
    "infra-spec-unit-tested": spec_unit_tested,
    "infra-integration-tested": integration_tested,
    "infra-validated-before-serving": validated,
    "infra-debuggable": debuggable,
    "infra-canary": manual_only(
        "send a small share of traffic to a new version first; dlstack serve does not yet"
    ),
    "infra-rollback": rollback,
    "monitor-dependencies": manual_only(
        "pin dependencies and get notified when they change (e.g. a lock file and a bot)"
    ),
    "monitor-data-invariants": manual_only(
        "ingest checks cover training data; check served inputs the same way (serving logs)"
    ),
    "monitor-skew": from_check(
        "skew", "the training/serving skew check", "run `dlstack test PACKAGE`"
    ),
    "monitor-staleness": from_check(
        "staleness", "the staleness check", "set [tests] max_age_days and run `dlstack test`"
    ),
    "monitor-numerical-stability": from_check(
        "stability", "the numerical stability check", "run `dlstack test PACKAGE`"
    ),
    "monitor-compute-regression": from_check(
        "latency_regression",
        "the latency regression check (against the previous package version)",
        "export a second version and run `dlstack test` on it",
    ),
    "monitor-quality-regression": from_check(
        "regression",
        "the quality regression check (against the previous package version)",
        "export a second version and run `dlstack test` on it",
    ),
}
