"""`dlstack run` leaves its results in MLflow, the system of record: read back with
MlflowClient from the project's own tracking DB (test metrics, the stages' reports, the
package as a logged model, a registered version named by the release gate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlstack import lifecycle
from dlstack.config import init_project, load_project

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow") / "digits8"
    init_project(root, "builtin:digits8", max_epochs=2)
    project = load_project(root)
    out = lifecycle.run(project, progress=False, doctor_budget_s=5)
    client = MlflowClient(tracking_uri=project.tracking_uri, registry_uri=project.tracking_uri)
    return project, out, client


def artifact_paths(client, run_id: str, folder: str = "") -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, folder or None):
        found |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def test_the_run_holds_test_metrics_and_every_stage_report(recorded, tmp_path: Path) -> None:
    _, out, client = recorded
    run = client.get_run(out.result.mlflow_run_id)
    assert "record" in out.seconds and run.info.status == "FINISHED"
    # The model's test-split metrics, as evaluate measured them, beside the per-epoch ones.
    for name, value in out.evaluation.metrics.items():
        assert run.data.metrics[f"test_{name}"] == pytest.approx(value)
    assert "val_loss" in run.data.metrics
    assert any(k.startswith("package_") for k in run.data.metrics)  # what `dlstack test` measured
    paths = artifact_paths(client, run.info.run_id)
    assert {
        "report/report.html",
        "doctor/report.html",
        "doctor/report.json",
        "evaluation/evaluation.json",
        "evaluation/baselines.json",
        "evaluation/objective.json",
        "gate/gate.json",
        "run.json",
    } <= paths
    assert any(p.startswith("tests/") for p in paths)
    baselines = json.loads(
        Path(
            client.download_artifacts(run.info.run_id, "evaluation/baselines.json", str(tmp_path))
        ).read_text()
    )
    assert {b["name"] for b in baselines["baselines"]} == {b.name for b in out.baselines}


def test_the_package_is_a_logged_and_registered_model(recorded, tmp_path: Path) -> None:
    import mlflow.artifacts

    project, out, client = recorded
    run = client.get_run(out.result.mlflow_run_id)
    (output,) = run.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    assert model.source_run_id == run.info.run_id
    files = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=model.artifact_location, dst_path=str(tmp_path)
        )
    )
    for name in ("model.onnx", "model.json"):
        assert (files / name).read_bytes() == (out.package / name).read_bytes()
    assert (files / "MLmodel").is_file()

    name = project.config.project.name
    gate = "passed" if out.gate.passed else "failed"
    alias = "production" if out.gate.passed else "candidate"
    version = client.get_model_version_by_alias(name, alias)
    assert version.source == f"models:/{model.model_id}"
    assert version.tags["data_version"] == out.version.id
    assert version.tags["gate"] == gate
    assert version.tags["code_version"] == out.result.code_version
