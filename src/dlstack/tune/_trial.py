"""One trial: the study's parameters as overrides of dlstack.toml, one normal training run.

A trial is a ``dlstack train`` run like any other (run.json, checkpoints, an MLflow run
nested under the study's, exportable), with its parameters recorded as overrides; its
value is the best checkpoint's score by the project's objective on the val split.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import optuna
from lightning.pytorch.callbacks import Callback
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from dlstack.config import Project
from dlstack.data import Snapshot
from dlstack.errors import ModelError

__all__ = ["EpochReporter", "TrialRunner", "suggest"]


def suggest(trial: optuna.Trial, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """Ask the trial for a value of every dimension (the sampler decides which)."""
    params: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, FloatDistribution):
            params[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
        elif isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
        elif isinstance(dist, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, list(dist.choices))
        else:  # pragma: no cover - dlstack builds only the three above
            raise TypeError(f"unsupported distribution {dist!r}")
    return params


class EpochReporter(Callback):
    """Reports the monitor to the trial after every epoch; stops the run when the pruner
    says so (the run still finishes cleanly, with its best checkpoint so far)."""

    def __init__(self, trial: optuna.Trial, monitor: str, *, prune: bool) -> None:
        self.trial = trial
        self.monitor = monitor
        self.prune = prune
        self.pruned_at: int | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        epoch = trainer.current_epoch + 1
        self.trial.report(float(value), epoch)
        if self.prune and self.trial.should_prune():
            self.pruned_at = epoch
            trainer.should_stop = True


@dataclass
class TrialRunner:
    """The objective Optuna calls: train one run with the trial's parameters."""

    project: Project
    snapshot: Snapshot
    space: dict[str, BaseDistribution]
    monitor: str
    study_name: str
    parent_run_id: str | None
    max_epochs: int | None  # [tune] max_epochs: None keeps [train]'s
    prune_from_round: int  # coarse-to-fine: 1 keeps the coarse round unpruned
    trials_per_round: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self, trial: optuna.Trial) -> float:
        from dlstack.train import fit

        params = suggest(trial, self.space)
        overrides = dict(params)
        if self.max_epochs is not None and "train.max_epochs" not in overrides:
            overrides["train.max_epochs"] = self.max_epochs
        round_ = trial.number // max(1, self.trials_per_round)
        reporter = EpochReporter(trial, self.monitor, prune=round_ >= self.prune_from_round)
        tags = {"dlstack.study": self.study_name, "dlstack.trial": str(trial.number)}
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id  # nested under the study's run
        try:
            result = fit(
                self.project,
                self.snapshot,
                progress=False,
                callbacks=[reporter],
                overrides=overrides,
                origin={"study": self.study_name, "trial": trial.number},
                tags=tags,
            )
        except ModelError as e:  # a diverged run (NaN loss) is a failed trial, not a bug
            trial.set_user_attr("failure", str(e))
            raise
        trial.set_user_attr("run_id", result.run_id)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("epochs", len(result.history))
        trial.set_user_attr("train_seconds", round(result.train_seconds, 3))
        trial.set_user_attr("overrides", overrides)
        score = result.extra.get("best_score")
        if score is None:
            raise ModelError(
                f"trial {trial.number}: run {result.run_id} has no {self.monitor} to score; "
                f"tuning needs a val split"
            )
        if reporter.pruned_at is not None:
            trial.set_user_attr("pruned_at_epoch", reporter.pruned_at)
            _tag_pruned(self.project, result.mlflow_run_id, reporter.pruned_at)
            raise optuna.TrialPruned(f"pruned after epoch {reporter.pruned_at}")
        return float(score)


def _tag_pruned(project: Project, mlflow_run_id: str | None, epoch: int) -> None:
    if not mlflow_run_id:
        return
    from mlflow import MlflowClient

    from dlstack.train import quiet_mlflow

    with quiet_mlflow():
        client = MlflowClient(tracking_uri=project.tracking_uri)
        client.set_tag(mlflow_run_id, "dlstack.pruned_at_epoch", str(epoch))
