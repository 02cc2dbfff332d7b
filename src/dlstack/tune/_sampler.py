"""Random and coarse-to-fine search as one Optuna sampler.

Trials are numbered by the study's storage; trial ``n`` belongs to round
``n // trials_per_round``. Round 0 samples the full space; round ``r`` samples inside the
ranges narrowed around the ``top_k`` best finished trials of the rounds before it. A round
starts only when every trial before it has finished, and its ranges are stored in the
study (``c2f_round_<r>``), so every worker on every machine searches the same ranges and
the report can show them. ``random`` is this sampler with one round.

Each value is drawn from a generator seeded by (seed, trial number, parameter): a study's
trials are the same whether one worker or ten ran them.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from dlstack.tune._quiet import fail_dead_trials
from dlstack.tune._space import Range, narrow_space

__all__ = ["ROUND_ATTR", "CoarseToFineSampler", "round_ranges"]

ROUND_ATTR = "c2f_round_{}"
_POLL_SECONDS = 0.5  # how often a round's first trial looks whether the last round is done


class CoarseToFineSampler(BaseSampler):
    def __init__(
        self,
        full: Mapping[str, Range],
        *,
        trials_per_round: int,
        rounds: int,
        top_k: int,
        seed: int = 0,
    ) -> None:
        self.full = dict(full)
        self.trials_per_round = max(1, trials_per_round)
        self.rounds = max(1, rounds)
        self.top_k = top_k
        self.seed = seed
        self._ranges: dict[int, dict[str, Range]] = {0: dict(full)}

    def round_of(self, number: int) -> int:
        return min(number // self.trials_per_round, self.rounds - 1)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        r = self.round_of(trial.number)
        if r not in self._ranges:
            self._ranges[r] = self._round(study, r)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        r = self.round_of(trial.number)
        ranges = self._ranges.get(r) or self._round(study, r)
        rng = np.random.default_rng(_seed(self.seed, trial.number, param_name))
        return _draw(ranges.get(param_name, self.full[param_name]), rng)

    def _round(self, study: Study, r: int) -> dict[str, Range]:
        """Round ``r``'s ranges: from the study when a worker stored them, else computed
        (after waiting for the trials before the round) and stored."""
        if r == 0:
            return dict(self.full)
        stored = study.user_attrs.get(ROUND_ATTR.format(r))
        if stored is not None:
            return {k: Range.from_dict(v) for k, v in stored.items()}
        start = r * self.trials_per_round
        while True:
            before = [t for t in study.get_trials(deepcopy=False) if t.number < start]
            if not any(t.state == TrialState.RUNNING for t in before):
                break
            fail_dead_trials(study)  # a dead worker's trial must not hold the round
            time.sleep(_POLL_SECONDS)
        previous = self._ranges.get(r - 1) or self._round(study, r - 1)
        done = [t for t in before if t.state == TrialState.COMPLETE and t.value is not None]
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        top = sorted(done, key=lambda t: -sign * float(t.value or 0.0))[: self.top_k]
        ranges = narrow_space(previous, [t.params for t in top], self.full)
        study.set_user_attr(ROUND_ATTR.format(r), {k: v.to_dict() for k, v in ranges.items()})
        return ranges


def round_ranges(study: Study, full: Mapping[str, Range], rounds: int) -> list[dict[str, Range]]:
    """The ranges each round searched (round 0 the full space), as stored in the study."""
    out = [dict(full)]
    for r in range(1, rounds):
        stored = study.user_attrs.get(ROUND_ATTR.format(r))
        if stored is None:
            break
        out.append({k: Range.from_dict(v) for k, v in stored.items()})
    return out


def _seed(seed: int, number: int, name: str) -> int:
    digest = hashlib.sha256(f"{seed}/{number}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _draw(rng_range: Range, rng: np.random.Generator) -> Any:
    if rng_range.kind == "choice":
        return rng_range.choices[int(rng.integers(len(rng_range.choices)))]
    lo, hi = rng_range.low, rng_range.high
    if rng_range.log:
        value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        value = rng.uniform(lo, hi)
    if rng_range.kind == "int":
        # uniform over the integers lo..hi (log: over their logs), ends included
        if rng_range.log:
            value = math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))
            return int(min(hi, max(lo, math.floor(value))))
        return int(rng.integers(int(lo), int(hi) + 1))
    return float(min(hi, max(lo, value)))
