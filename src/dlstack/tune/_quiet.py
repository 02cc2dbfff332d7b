"""Optuna without its noise: its "experimental feature" warnings (heartbeats,
fail_stale_trials) are notes about its API, not something a user can act on."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import optuna
from optuna.storages import fail_stale_trials

__all__ = ["fail_dead_trials", "quiet_optuna"]


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def fail_dead_trials(study: optuna.Study) -> None:
    """Mark the trials whose worker stopped sending heartbeats as failed."""
    with quiet_optuna():
        fail_stale_trials(study)
