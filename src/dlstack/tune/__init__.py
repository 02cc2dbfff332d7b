"""Tuning: coarse-to-fine and random search, Bayesian optimization (Optuna TPE or GP),
pruning, and any number of workers on one study in an Optuna RDB storage.

``[tune]`` and ``[tune.space]`` in dlstack.toml say what to search; :func:`tune` runs the
study to its trial count (each trial a normal training run, nested in MLflow under the
study's run) and writes ``.dlstack/tune/<study>/result.json`` (a :class:`TuneResult`) and
``report.html``. :func:`work` is one worker; :func:`trial_overrides` gives a trial's
parameters back for `dlstack train --from-trial`.

>>> from dlstack.tune import tune  # doctest: +SKIP
>>> result = tune(project, snapshot)  # doctest: +SKIP
>>> result.best["params"]  # doctest: +SKIP
{'train.lr': 0.0012...}

Names resolve lazily: reading a record (:func:`tune_results`) imports neither Optuna nor
torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack._lazy import lazy_attribute

if TYPE_CHECKING:
    from dlstack.tune._dashboard import dashboard_command
    from dlstack.tune._record import (
        REPORT_FILE,
        RESULT_FILE,
        TuneResult,
        read_tune_result,
        study_dir,
        tune_results,
    )
    from dlstack.tune._run import settle, study_setup, tune, work
    from dlstack.tune._study import open_study, redact, storage_url, study_name
    from dlstack.tune._trials import trial_overrides

__all__ = [
    "REPORT_FILE",
    "RESULT_FILE",
    "TuneResult",
    "dashboard_command",
    "open_study",
    "read_tune_result",
    "redact",
    "settle",
    "storage_url",
    "study_dir",
    "study_name",
    "study_setup",
    "trial_overrides",
    "tune",
    "tune_results",
    "work",
]

_HOME = {
    "dashboard_command": "_dashboard",
    "REPORT_FILE": "_record",
    "RESULT_FILE": "_record",
    "TuneResult": "_record",
    "read_tune_result": "_record",
    "study_dir": "_record",
    "tune_results": "_record",
    "settle": "_run",
    "study_setup": "_run",
    "tune": "_run",
    "work": "_run",
    "open_study": "_study",
    "redact": "_study",
    "storage_url": "_study",
    "study_name": "_study",
    "trial_overrides": "_trials",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOME, name)


def __dir__() -> list[str]:
    return sorted(__all__)
