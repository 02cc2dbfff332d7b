"""MLflow as the system of record: what one lifecycle run leaves in the project's tracking DB.

On the training run's MLflow run (reopened): the test metrics, the later stages' records as
artifacts (the evaluation, the baselines, the objective, report.html, the doctor's report,
the `dlstack test` record), and the model package (model.onnx + model.json) as an MLflow
logged model in the ONNX flavor. That model becomes a new version of the registered model
named after the package, tagged with its data version, code version and the release gate's
verdict, and given the alias the verdict earns: ``production`` when the gate passed,
``candidate`` otherwise (MLflow moves an alias, so ``models:/<name>@production`` is always the
latest version that passed).

Everything recorded is a copy of what dlstack already wrote under ``.dlstack/``, so a
tracking failure never loses the run: an MLflow error is one warning line, not a crash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.errors import DlstackWarning
from dlstack.train._tracking import Tracker, quiet_mlflow

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from dlstack.config import Project
    from dlstack.package import PackageSpec

__all__ = [
    "CANDIDATE_ALIAS",
    "GATE_VERDICTS",
    "PRODUCTION_ALIAS",
    "RecordedModel",
    "alias_for",
    "record_run",
]

GATE_VERDICTS = ("passed", "failed", "not checked")
PRODUCTION_ALIAS = "production"  # the gate passed: this version may serve
CANDIDATE_ALIAS = "candidate"  # registered, not (yet) fit to serve
# The logged model needs only onnxruntime to run; stating it spares MLflow's requirement
# inference, which loads the model in a subprocess for seconds.
_MODEL_REQUIREMENTS = ["onnxruntime"]
_TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"


@dataclass(frozen=True)
class RecordedModel:
    """Where the package went in MLflow: ``models:/<name>@<alias>`` loads it."""

    run_id: str  # the MLflow run the model was logged from
    model_id: str  # the logged model (``models:/<model_id>``)
    name: str  # the registered model
    version: str  # its registry version (MLflow's count, not the package's)
    alias: str


def alias_for(gate: str) -> str:
    """The registry alias a gate verdict earns.

    >>> alias_for("passed"), alias_for("failed"), alias_for("not checked")
    ('production', 'candidate', 'candidate')
    """
    if gate not in GATE_VERDICTS:
        raise ValueError(f"gate must be one of {', '.join(GATE_VERDICTS)}; got {gate!r}")
    return PRODUCTION_ALIAS if gate == "passed" else CANDIDATE_ALIAS


def record_run(
    project: Project,
    mlflow_run_id: str,
    *,
    package: Path,
    gate: str,
    metrics: Mapping[str, float] | None = None,
    files: Mapping[str, Sequence[Path]] | None = None,
    documents: Mapping[str, Any] | None = None,
) -> RecordedModel | None:
    """Record a finished run's results in its MLflow run and register its ``package``.

    ``metrics`` are logged at step 0 (``test_accuracy``, ...); ``files`` maps an artifact
    folder to the files logged into it; ``documents`` maps an artifact file name to a
    JSON-able value written there; ``gate`` is one of :data:`GATE_VERDICTS`. Returns None
    (after a warning) when MLflow could not take it all.
    """
    alias = alias_for(gate)  # a wrong verdict is a bug in the caller: raise, do not warn
    try:
        with quiet_mlflow():
            return _record(
                project,
                mlflow_run_id,
                package=package,
                gate=gate,
                alias=alias,
                metrics=metrics or {},
                files=files or {},
                documents=documents or {},
            )
    except Exception as e:  # MLflow, SQLAlchemy and OS errors alike: none may lose the run
        warnings.warn(
            f"MLflow did not record run {mlflow_run_id} ({type(e).__name__}: {e}); its "
            f"files under {project.state_dir} are complete",
            DlstackWarning,
            stacklevel=2,
        )
        return None


def _record(
    project: Project,
    mlflow_run_id: str,
    *,
    package: Path,
    gate: str,
    alias: str,
    metrics: Mapping[str, float],
    files: Mapping[str, Sequence[Path]],
    documents: Mapping[str, Any],
) -> RecordedModel | None:
    from dlstack.package import SPEC_FILE, read_spec

    spec = read_spec(package / SPEC_FILE)
    tracker = Tracker.reopen(project, mlflow_run_id)
    if tracker is None:
        warnings.warn(
            f"MLflow run {mlflow_run_id} is not in {project.tracking_uri} (was the "
            f"tracking DB deleted?); the results of run {spec.run_id} are not recorded there",
            DlstackWarning,
            stacklevel=3,
        )
        return None
    try:
        tracker.log_metrics({k: float(v) for k, v in metrics.items()}, step=0)
        for folder, paths in files.items():
            for path in paths:
                tracker.log_artifact(path, folder)
        for artifact_file, document in documents.items():
            tracker.client.log_dict(tracker.run_id, document, artifact_file)
        model_id = _log_package(tracker, package, spec)
        with _process_tracking_uri(project.tracking_uri):
            version = _register(tracker.client, spec, model_id, tracker.run_id, gate)
        tracker.client.set_registered_model_alias(spec.name, alias, version)
    finally:
        # Training finished whatever happens here; the run must not stay "running".
        tracker.finish("FINISHED")
    return RecordedModel(tracker.run_id, model_id, spec.name, version, alias)


def _log_package(tracker: Tracker, package: Path, spec: PackageSpec) -> str:
    """The package as a logged model: MLflow's ONNX flavor (MLmodel, environment files)
    around the package's own files, byte for byte, so a download is a dlstack package."""
    import mlflow.onnx
    import onnx
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model

    client = tracker.client
    model = client.create_logged_model(
        tracker.experiment_id,
        name=spec.name,
        source_run_id=tracker.run_id,
        tags=_version_tags(spec),
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "model"
            mlflow.onnx.save_model(
                onnx.load(str(package / spec.onnx.file), load_external_data=False),
                str(local),
                mlflow_model=Model(
                    artifact_path=model.artifact_location,
                    model_uuid=model.model_id,
                    run_id=tracker.run_id,
                    model_id=model.model_id,
                    metadata={"dlstack_package": f"{spec.name}/{spec.version}"},
                ),
                pip_requirements=_MODEL_REQUIREMENTS,
                save_as_external_data=False,
            )
            # save_model re-serializes the graph; the package's bytes keep model.json's
            # sha256 of model.onnx true for this copy.
            for path in package.iterdir():
                if path.is_file():
                    shutil.copyfile(path, local / path.name)
            client.log_model_artifacts(model.model_id, str(local))
        client.log_outputs(tracker.run_id, [LoggedModelOutput(model.model_id, step=0)])
    except BaseException:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return str(model.model_id)


def _register(
    client: MlflowClient, spec: PackageSpec, model_id: str, run_id: str, gate: str
) -> str:
    """A new version of the registered model ``spec.name`` (created on first use)."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            spec.name, description=f"dlstack model packages of project {spec.name}"
        )
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":  # registered by an earlier run: fine
            raise
    version = client.create_model_version(
        spec.name,
        source=f"models:/{model_id}",  # the version is this logged model
        run_id=run_id,
        tags={**_version_tags(spec), "gate": gate},
        description=f"dlstack package {spec.name} v{spec.version}",
        model_id=model_id,
    )
    return str(version.version)


@contextlib.contextmanager
def _process_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's SQL registry looks a ``models:/<id>`` source up through the process-wide
    tracking URI, not its client's (a TODO in its store): point that at ``uri`` meanwhile,
    then put it, and the environment variable MLflow sets with it, back."""
    import mlflow

    saved_env = os.environ.get(_TRACKING_URI_ENV)
    saved = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved)  # type: ignore[arg-type]  # None unsets it
        if saved_env is not None:
            os.environ[_TRACKING_URI_ENV] = saved_env


def _version_tags(spec: PackageSpec) -> dict[str, str]:
    return {
        "data_version": spec.data_version or "none",
        "code_version": spec.code_version or "none",
        "dlstack.package_version": str(spec.version),
        "dlstack.run_id": spec.run_id or "none",
    }
