"""The study: Optuna's, in an RDB storage every worker shares.

The project's own storage is a sqlite file under ``.dlstack/tune/``; ``--storage
postgresql+psycopg://...`` puts the study where workers on other machines reach it. A
study remembers what it searches (``dlstack.setup``: strategy, space, objective, data
version); a worker that comes with another setup is refused instead of mixing two
searches in one record.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from typing import Any

import optuna
from optuna.pruners import BasePruner, HyperbandPruner, MedianPruner, NopPruner
from optuna.samplers import BaseSampler, GPSampler, TPESampler
from optuna.storages import RDBStorage

from dlstack.config import Project, TuneConfig
from dlstack.errors import ConfigError
from dlstack.tune._quiet import quiet_optuna
from dlstack.tune._sampler import CoarseToFineSampler
from dlstack.tune._space import Range, distributions

__all__ = [
    "SETUP_ATTR",
    "StudySetup",
    "make_pruner",
    "make_sampler",
    "open_study",
    "redact",
    "storage_url",
    "stored_setup",
    "study_name",
]

SETUP_ATTR = "dlstack.setup"
PARENT_RUN_ATTR = "dlstack.mlflow_run_id"
STORAGE_FILE = "optuna.db"

# Optuna logs every finished trial at INFO and a failed one with its traceback at WARNING;
# dlstack prints its own line per trial, the failure's message included.
optuna.logging.set_verbosity(optuna.logging.ERROR)


@dataclass(frozen=True)
class StudySetup:
    """What one study searches; every worker must agree on it."""

    strategy: str
    direction: str  # maximize | minimize
    monitor: str  # val_objective, val_acc, val_cer...
    objective: str  # as [metric] reads, for people
    space: dict[str, str]  # full key -> the dimension as written
    trials: int
    rounds: int
    top_k: int
    trials_per_round: int
    data_version: str
    max_epochs: int

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StudySetup:
        return cls(**json.loads(text))

    def differences(self, other: StudySetup) -> list[str]:
        mine, theirs = self.__dict__, other.__dict__
        # The trial count may grow (`--trials 40` extends a study); the rounds keep the
        # size the study started with (open_study).
        grows = ("trials", "trials_per_round")
        changed = [k for k in mine if k not in grows and mine[k] != theirs[k]]
        return [f"{k}: {theirs[k]!r} -> {mine[k]!r}" for k in changed]


def storage_url(project: Project, storage: str | None = None) -> str:
    url = storage or project.config.tune.storage
    if url:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return "sqlite:///" + str(project.root / url.removeprefix("sqlite:///"))
        return url
    project.tune_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{project.tune_dir / STORAGE_FILE}"


def redact(url: str) -> str:
    """The storage URL without its password, for records and output."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def study_name(project: Project, name: str | None = None) -> str:
    return name or project.config.tune.study or project.config.project.name


def open_study(
    url: str,
    name: str,
    setup: StudySetup,
    *,
    sampler: BaseSampler,
    pruner: BasePruner,
    heartbeat_seconds: int,
) -> optuna.Study:
    """Create the study, or join it when its setup matches (a resumed or shared study)."""
    try:
        with quiet_optuna():
            storage = RDBStorage(
                url,
                heartbeat_interval=heartbeat_seconds,
                grace_period=2 * heartbeat_seconds,
                engine_kwargs=_engine_kwargs(url),
            )
    except Exception as e:  # a bad URL, a server that does not answer, a missing driver
        raise ConfigError(
            f"cannot open the tuning storage {redact(url)} ({type(e).__name__}: {e}); use a "
            f"reachable database URL (postgresql+psycopg://user:pass@host/db, sqlite:///file)"
            f" or leave tune.storage empty for the project's own file"
        ) from None
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=sampler,
        pruner=pruner,
        direction="maximize" if setup.direction == "maximize" else "minimize",
        load_if_exists=True,
    )
    stored = study.user_attrs.get(SETUP_ATTR)
    if stored is None:
        study.set_user_attr(SETUP_ATTR, setup.to_json())
    else:
        first = StudySetup.from_json(stored)
        differences = setup.differences(first)
        if differences:
            raise ConfigError(
                f"study {name!r} in {redact(url)} searches something else: "
                f"{'; '.join(differences)}. Use another study name (--study NAME or [tune] "
                f"study), or restore the settings it was started with"
            )
        # More trials than the study started with go into its last round: the rounds
        # keep their size, so earlier trials keep their round.
        if isinstance(sampler, CoarseToFineSampler):
            sampler.trials_per_round = first.trials_per_round
    return study


def stored_setup(study: optuna.Study, current: StudySetup) -> StudySetup:
    """The study's setup as it was started, with the caller's trial count."""
    stored = study.user_attrs.get(SETUP_ATTR)
    if stored is None:
        return current
    return replace(StudySetup.from_json(stored), trials=current.trials)


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several local worker processes share one sqlite file: wait for its lock
        # instead of failing with "database is locked".
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def make_sampler(tune: TuneConfig, full: dict[str, Range], worker: int = 0) -> BaseSampler:
    if tune.strategy in ("random", "coarse-to-fine"):
        rounds = tune.rounds if tune.strategy == "coarse-to-fine" else 1
        return CoarseToFineSampler(
            full,
            trials_per_round=tune.trials_per_round,
            rounds=rounds,
            top_k=tune.top_k,
            seed=tune.seed,
        )
    startup = tune.startup_trials or min(10, max(3, tune.trials // 4))
    seed = tune.seed + worker  # workers must not draw the same startup trials
    if tune.sampler == "gp":
        return GPSampler(seed=seed, n_startup_trials=startup)
    # constant_liar: a running trial counts as a bad one, so parallel workers spread out
    return TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)


def make_pruner(tune: TuneConfig, max_epochs: int) -> BasePruner:
    if tune.pruner == "median":
        return MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if tune.pruner == "hyperband":
        return HyperbandPruner(min_resource=1, max_resource=max(2, max_epochs))
    return NopPruner()


def space_distributions(tune: TuneConfig) -> dict[str, Any]:
    return distributions(tune.search_space)


# A quiet optuna: its experimental-feature warnings are about its API, not the user's.
logging.getLogger("optuna").setLevel(logging.WARNING)
