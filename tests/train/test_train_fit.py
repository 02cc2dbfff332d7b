"""fit and load_run end to end on the 8x8 digits: history, checkpoints, run.json, MLflow,
resume, seeds, and the overfit-one-batch sanity check."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from mlflow import MlflowClient

from dlstack.config import Config, Project
from dlstack.data import Snapshot
from dlstack.errors import ConfigError, ModelError
from dlstack.inputs import to_model_input
from dlstack.models import build_model
from dlstack.train import (
    DlstackModule,
    History,
    SnapshotDataModule,
    TrainResult,
    fit,
    get_task,
    list_runs,
    load_run,
)

EPOCHS = 3
SUBSET = 800  # of digits8's 1,438 train examples: fewer steps, same code path


def make_project(root: Path, **sections: dict[str, Any]) -> Project:
    """A Project in ``root``: digits8, 2 epochs, then ``sections`` on top."""
    raw: dict[str, dict[str, Any]] = {
        "project": {"name": "testproj"},
        "data": {"source": "builtin:digits8"},
        "train": {"max_epochs": 2},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return Project(root, Config.model_validate(raw))


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project directory (one MLflow DB) for the runs below: DB creation costs ~1 s."""
    return tmp_path_factory.mktemp("fitproj")


def project_in(root: Path, epochs: int = EPOCHS, **train: Any) -> Project:
    return make_project(root, data={"subset": SUBSET}, train={"max_epochs": epochs, **train})


@pytest.fixture(scope="module")
def trained(shared_root: Path, digits8: Snapshot) -> tuple[Project, TrainResult]:
    project = project_in(shared_root)
    return project, fit(project, digits8, progress=False)


def weights(result: TrainResult) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in result.model.state_dict().items()}


def same_weights(a: TrainResult, b: TrainResult) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_history_has_one_row_per_epoch(trained: tuple[Project, TrainResult]) -> None:
    _, result = trained
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    for row in result.history:
        assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= row.keys()
    # It learns: the loss falls every epoch at Adam 3e-4 on this easy data.
    losses = [row["train_loss"] for row in result.history]
    assert losses == sorted(losses, reverse=True)


def test_run_dir_holds_checkpoints_and_run_json(trained: tuple[Project, TrainResult]) -> None:
    project, result = trained
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", result.run_id)
    assert result.run_dir == project.runs_dir / result.run_id
    assert (result.run_dir / "checkpoints" / "last.ckpt").is_file()
    assert result.best_checkpoint == result.run_dir / "checkpoints" / "best.ckpt"
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "finished"
    assert record["data_version"] == "builtin:digits8"
    assert record["architecture"] == "lenet"  # "auto" resolved for 8x8 images
    assert record["split_sizes"]["train"] == SUBSET  # data.subset was applied
    assert record["history"] == result.history


def test_returned_model_is_the_best_checkpoint_on_cpu_in_eval_mode(
    trained: tuple[Project, TrainResult], digits8: Snapshot
) -> None:
    _, result = trained
    model = result.model
    assert not model.training
    assert all(p.device.type == "cpu" for p in model.parameters())
    # Reference: the saved normalization + this model reproduce the best epoch's val_acc,
    # so the model, its checkpoint and its input pipeline belong together.
    val = digits8.split("val")
    x = torch.from_numpy(to_model_input(val.images, *result.normalization.to_dict().values()))
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (len(val), 10)
    acc = float((logits.argmax(1).numpy() == val.labels).mean())
    assert acc == pytest.approx(max(row["val_acc"] for row in result.history), abs=1e-6)


def test_load_run_rebuilds_the_same_result(trained: tuple[Project, TrainResult]) -> None:
    project, result = trained
    again = load_run(project, result.run_id)
    assert same_weights(again, result)
    assert (again.normalization, again.input_shape, again.classes) == (
        result.normalization,
        result.input_shape,
        result.classes,
    )
    assert (again.data_version, again.code_version, again.history) == (
        result.data_version,
        result.code_version,
        result.history,
    )
    assert again.config == result.config and again.mlflow_run_id == result.mlflow_run_id


def test_mlflow_run_records_config_and_versions(trained: tuple[Project, TrainResult]) -> None:
    project, result = trained
    assert (project.state_dir / "mlflow.db").is_file()  # sqlite backend under .dlstack/
    client = MlflowClient(project.tracking_uri)
    assert result.mlflow_run_id is not None
    run = client.get_run(result.mlflow_run_id)
    params = run.data.params
    assert params["data_version"] == "builtin:digits8"
    assert params["code_version"] == result.code_version
    assert params["architecture"] == "lenet"
    assert params["train.lr"] == "0.0003" and params["train.optimizer"] == "adam"
    assert params["model.architecture"] == "auto"
    assert params["normalization.mean"]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == result.run_id
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "testproj"
    assert experiment.artifact_location.startswith(project.artifacts_uri)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")]
    assert steps == [1, 2, 3]  # one point per epoch


def test_same_seed_same_weights_other_seed_other_weights(
    trained: tuple[Project, TrainResult], shared_root: Path, digits8: Snapshot
) -> None:
    _, first = trained
    second = fit(project_in(shared_root), digits8, progress=False)
    assert second.run_id != first.run_id
    assert same_weights(first, second)
    other = fit(project_in(shared_root, epochs=1, seed=1), digits8, progress=False)
    one_epoch_seed0 = fit(project_in(shared_root, epochs=1), digits8, progress=False)
    assert not same_weights(other, one_epoch_seed0)


def test_resume_continues_without_repeating_epochs(
    trained: tuple[Project, TrainResult], shared_root: Path, digits8: Snapshot
) -> None:
    _, straight = trained
    partial = fit(project_in(shared_root, epochs=2), digits8, progress=False)
    assert [r["epoch"] for r in partial.history] == [1, 2]
    resumed = fit(project_in(shared_root, epochs=3), digits8, resume=partial.run_id, progress=False)
    assert resumed.run_id == partial.run_id  # same run, same directory
    assert resumed.mlflow_run_id == partial.mlflow_run_id  # same MLflow run
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]  # epoch 3 only was trained
    assert resumed.history[:2] == partial.history
    # Per-epoch shuffling depends on (seed, epoch) only, so 2 + 1 epochs == 3 epochs.
    assert same_weights(resumed, straight)
    client = MlflowClient(project_in(shared_root).tracking_uri)
    steps = [m.step for m in client.get_metric_history(resumed.mlflow_run_id, "train_loss")]
    assert steps == [1, 2, 3]


def test_resume_true_takes_the_latest_run(shared_root: Path, digits8: Snapshot) -> None:
    latest = fit(project_in(shared_root, epochs=1), digits8, progress=False)
    assert list_runs(shared_root / ".dlstack" / "runs")[-1] == latest.run_id
    resumed = fit(project_in(shared_root, epochs=2), digits8, resume=True, progress=False)
    assert resumed.run_id == latest.run_id
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert load_run(project_in(shared_root)).run_id == latest.run_id  # latest by default


def test_run_json_from_before_typed_records_still_resumes(
    tmp_path: Path, digits8: Snapshot
) -> None:
    old = fit(project_in(tmp_path, epochs=1), digits8, progress=False)
    run_file = old.run_dir / "run.json"
    record = json.loads(run_file.read_text())
    assert (record["kind"], record["schema_version"]) == ("run", 1)  # a typed RunRecord
    # What dlstack wrote before typed records: "schema": 1, neither kind nor schema_version.
    legacy = {k: v for k, v in record.items() if k not in ("kind", "schema_version")}
    run_file.write_text(json.dumps({"schema": 1, **legacy}))
    resumed = fit(project_in(tmp_path, epochs=2), digits8, resume=old.run_id, progress=False)
    assert resumed.run_id == old.run_id and [r["epoch"] for r in resumed.history] == [1, 2]
    rewritten = json.loads(run_file.read_text())
    assert rewritten["kind"] == "run" and "schema" not in rewritten  # upgraded on write
    # A schema this dlstack does not know is refused, naming the file and the fix.
    run_file.write_text(json.dumps({"schema": 2, **legacy}))
    with pytest.raises(ModelError, match=r"run\.json is not a valid run record.*train a new"):
        load_run(project_in(tmp_path), old.run_id)


def test_resume_errors_say_what_to_do(
    tmp_path: Path, shared_root: Path, digits8: Snapshot, trained: tuple[Project, TrainResult]
) -> None:
    with pytest.raises(ModelError, match=r"no training runs.*dlstack train"):
        fit(project_in(tmp_path), digits8, resume=True, progress=False)
    with pytest.raises(ModelError, match="no run 'nope'"):
        fit(project_in(shared_root), digits8, resume="nope", progress=False)
    other_data = Snapshot.from_builtin("digits8", seed=1)
    other_data = Snapshot(
        "v2",
        other_data.classes,
        other_data.images,
        other_data.labels,
        other_data.splits,
        other_data.ids,
    )
    with pytest.raises(ModelError, match="data version builtin:digits8, got v2"):
        fit(project_in(shared_root), other_data, resume=trained[1].run_id, progress=False)
    with pytest.raises(ModelError, match="no training runs"):
        load_run(project_in(tmp_path))


def test_progress_is_one_line_per_epoch_and_nothing_else(
    tmp_path: Path, digits8: Snapshot, capfd: pytest.CaptureFixture[str]
) -> None:
    # capfd: stdout is not a terminal here, as in CI logs; MLflow/Lightning chatter
    # (DB migrations, "GPU available") would show up on the file descriptors.
    fit(project_in(tmp_path, epochs=2), digits8, progress=True)
    out, err = capfd.readouterr()
    lines = out.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert "val_acc" in lines[0]
    assert err.strip() == ""


def test_user_model_trains_and_its_source_is_versioned(tmp_path: Path, digits8: Snapshot) -> None:
    (tmp_path / "my_net_for_fit.py").write_text(
        textwrap.dedent("""
        from torch import nn

        def build(input_shape, num_classes):
            c, h, w = input_shape
            return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))
    """)
    )
    spec = "my_net_for_fit:build"
    project = make_project(tmp_path, model={"architecture": spec}, train={"max_epochs": 1})
    result = fit(project, digits8, progress=False)
    assert result.architecture == spec
    assert re.search(r"\+model\.[0-9a-f]{12}$", result.code_version)
    assert same_weights(load_run(project, result.run_id), result)


def test_a_model_with_wrong_outputs_fails_before_training(
    tmp_path: Path, digits8: Snapshot
) -> None:
    (tmp_path / "bad_net_for_fit.py").write_text(
        "from torch import nn\n"
        "def build(input_shape, num_classes):\n"
        "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(3))\n"
    )
    project = make_project(tmp_path, model={"architecture": "bad_net_for_fit:build"})
    with pytest.raises(ModelError, match=r"expected logits of shape \(2, 10\)"):
        fit(project, digits8, progress=False)
    assert list_runs(project.runs_dir) == []  # nothing half-made is left behind


def test_a_task_the_data_does_not_hold_is_refused_before_anything_runs(
    tmp_path: Path, digits8: Snapshot
) -> None:
    project = make_project(tmp_path, project={"name": "lines", "task": "ctc"})
    with pytest.raises(ConfigError, match="holds classification targets"):
        fit(project, digits8, progress=False)
    assert not project.state_dir.exists()


@pytest.mark.filterwarnings("ignore:.*LeafSpec")
def test_overfit_one_batch_drives_the_loss_to_zero(digits8: Snapshot) -> None:
    # The practice's first debugging step: a correct model/loss/optimizer can memorize
    # one batch. 150 steps of Adam 3e-4 take lenet's loss from ~2.3 to ~0.02.
    task = get_task("classification")
    L.seed_everything(0, verbose=False)
    data = SnapshotDataModule(digits8, task, batch_size=64)
    data.setup()
    model, _ = build_model("lenet", data.input_shape, 10)
    history = History()
    trainer = L.Trainer(
        max_epochs=150,
        overfit_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[history],
    )
    with pytest.warns(match="overfit"):  # Lightning turns our shuffling off, and says so
        trainer.fit(DlstackModule(model, task, 10), datamodule=data)
    assert history.rows[0]["train_loss"] > 1.0
    assert history.rows[-1]["train_loss"] < 0.05
    assert history.rows[-1]["train_acc"] == 1.0


@pytest.mark.slow
def test_demo_defaults_reach_97_percent_on_digits(tmp_path: Path) -> None:
    # The evaluation test with a threshold, on exactly what `make demo` trains: the digits
    # template (its augment step included), the demo's split, the practice's defaults
    # (Adam 3e-4, batch 64, 15 epochs). Takes ~1-2 min on 2 CPUs.
    from dlstack.config import init_project
    from dlstack.evaluate import evaluate
    from dlstack.lifecycle import prepare_data

    project = init_project(tmp_path / "demo", "builtin:digits")
    _, _, snapshot = prepare_data(project, progress=False)
    result = fit(project, snapshot, progress=False)
    test = evaluate(result.model, snapshot, result.normalization, split="test")
    assert test.metrics["accuracy"] >= 0.97


def test_a_truncated_last_checkpoint_is_a_clear_error_on_resume(
    tmp_path: Path, digits8: Snapshot
) -> None:
    import shutil

    partial = fit(project_in(tmp_path, epochs=1), digits8, progress=False)
    last = partial.run_dir / "checkpoints" / "last.ckpt"
    best = partial.run_dir / "checkpoints" / "best.ckpt"
    saved_best = best.read_bytes()
    for damage in (last.read_bytes()[: last.stat().st_size // 2], b""):
        last.write_bytes(damage)
        with pytest.raises(ModelError, match=r"cannot resume run .* is damaged.*dlstack train"):
            fit(project_in(tmp_path, epochs=2), digits8, resume=True, progress=False)
    assert best.read_bytes() == saved_best  # nothing else was touched
    shutil.rmtree(partial.run_dir)


def test_a_loss_that_turns_nan_stops_the_run_with_the_reason(
    tmp_path: Path, digits8: Snapshot
) -> None:
    # lr = 1e6 with SGD: finite at the first step, NaN/inf a few steps later.
    project = project_in(tmp_path, epochs=2, lr=1e6, optimizer="sgd")
    with pytest.raises(ModelError, match=r"training loss became (NaN|inf) at epoch 1, step \d+"):
        fit(project, digits8, progress=False)
    run_dir = project.runs_dir / list_runs(project.runs_dir)[-1]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed" and "Lower train.lr (now 1e+06)" in record["failure"]


def test_evaluate_and_export_skip_a_run_that_has_no_checkpoint(
    tmp_path: Path, digits8: Snapshot
) -> None:
    import shutil

    from dlstack.errors import DlstackWarning

    good = fit(project_in(tmp_path, epochs=1), digits8, progress=False)
    # A run killed before its first epoch ended: run.json, no checkpoint.
    killed = tmp_path / ".dlstack" / "runs" / "29990101-000000-dead"
    shutil.copytree(good.run_dir, killed)
    shutil.rmtree(killed / "checkpoints")
    record = json.loads((killed / "run.json").read_text())
    record.update(run_id=killed.name, status="interrupted", started_at=4e9)
    (killed / "run.json").write_text(json.dumps(record))
    assert list_runs(good.run_dir.parent)[-1] == killed.name
    with pytest.warns(DlstackWarning, match=r"skipped run 29990101-000000-dead \(interrupted\)"):
        picked = load_run(project_in(tmp_path))
    assert picked.run_id == good.run_id
    shutil.rmtree(good.run_dir)
    with pytest.raises(ModelError, match=r"no run .* has a checkpoint yet.*dlstack train"):
        load_run(project_in(tmp_path))


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_an_lr_schedule_moves_the_rate_over_the_planned_steps(
    tmp_path: Path, digits8: Snapshot, schedule: str
) -> None:
    project = project_in(tmp_path, epochs=2, lr=1e-2, lr_schedule=schedule, batch_size=100)
    result = fit(project, digits8, progress=False)
    steps = -(-SUBSET // 100)  # per epoch
    reference = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-2)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=2 * steps)
        if schedule == "cosine"
        else torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=1e-2, total_steps=2 * steps)
    )
    expected = []
    for _ in range(2):
        for _ in range(steps):
            reference.step()
            sched.step()
        expected.append(sched.get_last_lr()[0])
    logged = [row["train_lr"] for row in result.history]
    assert logged == pytest.approx(expected, rel=1e-5, abs=1e-9), (logged, expected)
    assert logged[0] > logged[1] and logged[1] < 1e-3  # decays towards 0 by the end


def test_an_unknown_lr_schedule_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lr_schedule"):
        project_in(tmp_path, lr_schedule="linear")
