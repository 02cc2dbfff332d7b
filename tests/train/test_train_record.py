"""MLflow as the system of record: record_run on a real tracking DB, read back with
MlflowClient (metrics, artifacts, the logged model's files, the registry's versions)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from dlstack.config import Config, Project
from dlstack.errors import DlstackWarning
from dlstack.package import load_package, sha256_file
from dlstack.train import alias_for, record_run
from dlstack.train._tracking import Tracker

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LABELS = ["a", "b", "c"]


def write_package(directory: Path, *, version: int, data_version: str = "v-data-1") -> Path:
    """A real package (onnx.helper graph: flatten + gemm over 2x2 grayscale images)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    directory.mkdir(parents=True)
    rng = np.random.default_rng(version)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]),
        ],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 2, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)])],
        [
            numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "W"),
            numpy_helper.from_array(np.zeros(3, np.float32), "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, directory / "model.onnx")
    spec = {
        "schema_version": 1,
        "name": "toy",
        "version": version,
        "task": "classification",
        "labels": LABELS,
        "input": {
            "name": "input",
            "dtype": "float32",
            "shape": [-1, 1, 2, 2],
            "layout": "NCHW",
            "pixel_scale": 255,
            "normalization": {"mean": [0.5], "std": [0.25]},
            "color": "grayscale",
            "background": "dark",
        },
        "output": {"name": "logits", "kind": "logits", "shape": [-1, len(LABELS)]},
        "onnx": {"file": "model.onnx", "sha256": sha256_file(directory / "model.onnx")},
        "data_version": data_version,
        "run_id": f"run-{version}",
        "code_version": "0123456789ab-dirty",
    }
    (directory / "model.json").write_text(json.dumps(spec), encoding="utf-8")
    return directory


def finished_run(project: Project, name: str) -> str:
    tracker = Tracker.start(project, run_name=name, params={"train.lr": "0.001"}, tags={})
    tracker.log_metrics({"val_loss": 0.5}, step=1)
    tracker.finish()
    return tracker.run_id


def client_of(project: Project):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=project.tracking_uri, registry_uri=project.tracking_uri)


def test_record_run_logs_results_and_registers_the_package(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj", Config())
    run_id = finished_run(project, "run-1")
    package = write_package(tmp_path / "models" / "toy" / "1", version=1)
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text('{"objective": "accuracy"}')
    report = tmp_path / "report.html"
    report.write_text("<html>report</html>")

    recorded = record_run(
        project,
        run_id,
        package=package,
        gate="passed",
        metrics={"test_accuracy": 0.75, "test_f1_macro": 0.5},
        files={"evaluation": [evaluation], "report": [report]},
        documents={"evaluation/baselines.json": {"baselines": [{"name": "majority"}]}},
    )

    assert recorded is not None and recorded.alias == "production"
    import mlflow

    # The process-wide tracking URI that registering borrowed is put back.
    assert not mlflow.is_tracking_uri_set() and "MLFLOW_TRACKING_URI" not in os.environ
    client = client_of(project)
    run = client.get_run(run_id)
    # Test metrics beside the training's own; the run is finished again, not left running.
    assert run.data.metrics["test_accuracy"] == 0.75 and run.data.metrics["val_loss"] == 0.5
    assert run.info.status == "FINISHED"
    listed = {
        f.path for folder in ("evaluation", "report") for f in client.list_artifacts(run_id, folder)
    }
    assert listed == {
        "evaluation/evaluation.json",
        "evaluation/baselines.json",
        "report/report.html",
    }
    baselines = json.loads(
        Path(
            client.download_artifacts(run_id, "evaluation/baselines.json", str(tmp_path))
        ).read_text()
    )
    assert baselines == {"baselines": [{"name": "majority"}]}

    # The logged model: from this run, in the ONNX flavor, holding the package byte for byte.
    from mlflow.entities import LoggedModelStatus

    model = client.get_logged_model(recorded.model_id)
    assert model.source_run_id == run_id and model.status == LoggedModelStatus.READY
    assert recorded.model_id in {o.model_id for o in client.get_run(run_id).outputs.model_outputs}
    import mlflow.artifacts

    downloaded = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=model.artifact_location, dst_path=str(tmp_path / "download")
        )
    )
    assert {"MLmodel", "model.onnx", "model.json"} <= {p.name for p in downloaded.iterdir()}
    assert "onnx" in (downloaded / "MLmodel").read_text()
    assert (downloaded / "model.onnx").read_bytes() == (package / "model.onnx").read_bytes()
    # A download is a dlstack package: its model.json's hash holds, onnxruntime runs it.
    x = np.random.default_rng(0).normal(size=(2, 1, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(load_package(downloaded).logits(x), load_package(package).logits(x))

    # The registry: a version of "toy" from this model, tagged, under the alias the gate earned.
    version = client.get_model_version_by_alias("toy", "production")
    assert str(version.version) == recorded.version == "1"
    assert version.source == f"models:/{recorded.model_id}" and version.run_id == run_id
    assert version.tags["data_version"] == "v-data-1"
    assert version.tags["gate"] == "passed"
    assert version.tags["code_version"] == "0123456789ab-dirty"


def test_a_failed_gate_registers_a_candidate_and_production_stays(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj", Config())
    first = record_run(
        project,
        finished_run(project, "run-1"),
        package=write_package(tmp_path / "1", version=1),
        gate="passed",
    )
    second = record_run(
        project,
        finished_run(project, "run-2"),
        package=write_package(tmp_path / "2", version=2, data_version="v-data-2"),
        gate="failed",
    )
    assert first is not None and second is not None
    client = client_of(project)
    # production still points at the version that passed; the new one waits as candidate.
    assert str(client.get_model_version_by_alias("toy", "production").version) == first.version
    candidate = client.get_model_version_by_alias("toy", "candidate")
    assert str(candidate.version) == second.version == "2"
    assert candidate.tags["gate"] == "failed" and candidate.tags["data_version"] == "v-data-2"


def test_an_mlflow_error_is_a_warning_and_the_run_stays_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    project = Project(tmp_path / "proj", Config())
    run_id = finished_run(project, "run-1")

    def broken(*args: object, **kwargs: object) -> None:
        raise MlflowException("registry is read-only")

    monkeypatch.setattr(MlflowClient, "create_model_version", broken)
    with pytest.warns(DlstackWarning, match="MLflow did not record run .*registry is read-only"):
        recorded = record_run(
            project,
            run_id,
            package=write_package(tmp_path / "1", version=1),
            gate="passed",
            metrics={"test_accuracy": 0.75},
        )
    assert recorded is None
    run = client_of(project).get_run(run_id)
    # What was recorded before the error stays, and the training run is not left "running".
    assert run.data.metrics["test_accuracy"] == 0.75 and run.info.status == "FINISHED"


def test_a_run_missing_from_the_tracking_db_is_a_warning(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj", Config())
    finished_run(project, "run-1")  # the DB exists, this run id does not
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recorded = record_run(
            project, "0" * 32, package=write_package(tmp_path / "1", version=1), gate="passed"
        )
    assert recorded is None
    assert any(
        issubclass(w.category, DlstackWarning) and "is not in" in str(w.message) for w in caught
    )


def test_gate_verdicts_map_to_aliases_and_others_are_refused() -> None:
    assert [alias_for(g) for g in ("passed", "failed", "not checked")] == [
        "production",
        "candidate",
        "candidate",
    ]
    with pytest.raises(ValueError, match="gate must be one of"):
        alias_for("PASSED")
