"""A finished trial's parameters, for `dlstack train --from-trial N`."""

from __future__ import annotations

from typing import Any

from dlstack.config import Project
from dlstack.errors import ConfigError

__all__ = ["trial_overrides"]


def trial_overrides(
    project: Project, number: int, *, study: str | None = None, storage: str | None = None
) -> dict[str, Any]:
    """The parameters trial ``number`` of the study was trained with (full config keys),
    without its per-trial epochs: a retrained trial runs [train]'s max_epochs."""
    import optuna
    from optuna.trial import TrialState

    from dlstack.tune._study import redact, storage_url, study_name

    url, name = storage_url(project, storage), study_name(project, study)
    try:
        loaded = optuna.load_study(study_name=name, storage=url)
    except KeyError:
        raise ConfigError(
            f"no study {name!r} in {redact(url)}; run `dlstack tune` first, or pass --study "
            f"NAME (and --storage URL) of the study the trial belongs to"
        ) from None
    trials = {t.number: t for t in loaded.get_trials(deepcopy=False)}
    trial = trials.get(number)
    usable = (TrialState.COMPLETE, TrialState.PRUNED)
    if trial is None or trial.state not in usable:
        done = sorted(n for n, t in trials.items() if t.state in usable)
        state = "missing" if trial is None else trial.state.name.lower()
        raise ConfigError(
            f"study {name!r} has no finished trial {number} ({state}); finished trials: "
            f"{', '.join(map(str, done[:20])) or 'none yet'}"
        )
    return dict(trial.params)
