"""The lifecycle's results into MLflow, the system of record (``dlstack.train.record_run``).

What goes where in the training run's MLflow run:

    metrics    test_<metric> (the model on the test split), test_objective,
               package_<metric> (what `dlstack test` measured on the package)
    artifacts  evaluation/evaluation.json, evaluation/baselines.json,
               evaluation/objective.json, report/report.html, doctor/report.{json,html},
               tests/<the dlstack test record>.json, gate/gate.json
    model      the package as a logged model, registered under the package's name with
               tags data_version, code_version, gate (the release gate's verdict:
               passed, failed, not checked); alias production (passed) or candidate
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.train import RecordedModel

__all__ = ["gate_verdict", "record_in_mlflow"]


def record_in_mlflow(
    project: Project, out: Any, doctor_html: Path | None = None
) -> RecordedModel | None:
    """Record ``out`` (a :class:`LifecycleResult`) in its training run's MLflow run and
    register its package; None if the run was not tracked or MLflow failed (a warning)."""
    from dlstack.layout import EVALUATION_FILE
    from dlstack.package import GATE_FILE
    from dlstack.train import record_run

    mlflow_run_id = out.result.mlflow_run_id
    if mlflow_run_id is None:
        return None
    evaluation_json = out.result.run_dir / EVALUATION_FILE
    files: dict[str, list[Path]] = {"evaluation": [evaluation_json], "report": [out.report]}
    if doctor_html is not None:  # this run's doctor, not one left from an earlier run
        files["doctor"] = [doctor_html.with_suffix(".json"), doctor_html]
    if out.tests is not None and out.tests.path is not None:
        files["tests"] = [out.tests.path]
    files["gate"] = [out.package / GATE_FILE]
    return record_run(
        project,
        mlflow_run_id,
        package=out.package,
        gate=gate_verdict(out.package),
        metrics=_metrics(out),
        files={k: [p for p in v if p.is_file()] for k, v in files.items()},
        documents=_documents(evaluation_json),
    )


def gate_verdict(package: Path) -> str:
    """ "passed"/"failed" as the release gate judged ``package`` (its ``gate.json``), "not
    checked" when it has no readable verdict."""
    from dlstack.errors import PackageError
    from dlstack.package import read_gate

    try:
        verdict = read_gate(package)
    except PackageError:  # a damaged verdict is no verdict; never promote on it
        return "not checked"
    if verdict is None:
        return "not checked"
    return "passed" if verdict.passed else "failed"


def _metrics(out: Any) -> dict[str, float]:
    metrics = {f"test_{k}": float(v) for k, v in out.evaluation.metrics.items()}
    if out.details is not None and math.isfinite(out.details.model_score.value):
        metrics["test_objective"] = float(out.details.model_score.value)
    if out.tests is not None:
        metrics.update({f"package_{k}": float(v) for k, v in out.tests.metrics.items()})
    return metrics


def _documents(evaluation_json: Path) -> dict[str, Any]:
    """The baselines and the objective as files of their own, cut from evaluation.json."""
    if not evaluation_json.is_file():
        return {}
    data = json.loads(evaluation_json.read_text(encoding="utf-8"))
    return {
        "evaluation/baselines.json": {
            "baselines": data.get("baselines", []),
            "references": data.get("references", []),
        },
        "evaluation/objective.json": {
            "objective": data.get("objective"),
            "model": data.get("model"),
            "ranking": data.get("ranking", []),
        },
    }
