"""The search itself, on cheap synthetic objectives (no training): the space's validation,
coarse-to-fine's narrowing, determinism across workers, and the Bayesian samplers."""

from __future__ import annotations

import math

import optuna
import pytest

from dlstack.config import Config, Dimension, TuneConfig, parse_config
from dlstack.errors import ConfigError
from dlstack.tune._run import full_ranges
from dlstack.tune._sampler import ROUND_ATTR, CoarseToFineSampler
from dlstack.tune._space import Range, distributions
from dlstack.tune._study import make_sampler
from dlstack.tune._trial import suggest

SPACE = """
[tune.space]
lr = "log-uniform 1e-5 1e-1"
width = "int 8 256"
architecture = "choice mlp lenet"
"""


def _space(text: str = SPACE) -> dict[str, Dimension]:
    return parse_config(text).tune.search_space


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[tune.space]\nlearning_rate = "log-uniform 1e-5 1e-2"', "not a key a run can change"),
        ('[tune.space]\nlr = "normal 0 1"', "unknown distribution 'normal'"),
        ('[tune.space]\nlr = "uniform 0.1 0.1"', "is empty"),
        ('[tune.space]\nlr = "log-uniform 0 1"', "log scale needs LOW > 0"),
        ('[tune.space]\nlr = "log-uniform 1e-5"', "takes LOW HIGH"),
        ('[tune.space]\nbatch_size = "uniform 8 64"', "takes whole numbers"),
        ('[tune.space]\nwidth = "int 8.5 64"', "whole numbers"),
        ('[tune.space]\ndropout = "uniform 0 1"', "not a valid train.dropout"),
        ('[tune.space]\narchitecture = ["lenet", "vgg"]', "'vgg' is not a valid model"),
        ('[tune.space]\narchitecture = ["lenet"]', "at least two values"),
        ('[tune.space]\nlr = "uniform 1e-4 1e-3"\n"train.lr" = "uniform 1 2"', "twice"),
        ('[tune]\nstrategy = "grid"', "tune.strategy must be one of"),
        ("[tune]\ntrials = 2\nrounds = 3", "fewer than tune.rounds"),
    ],
)
def test_a_bad_space_is_refused_naming_the_key_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_config(text)


def test_keys_resolve_to_their_section_and_the_default_space_is_the_lr() -> None:
    dists = distributions(_space())
    assert set(dists) == {"train.lr", "model.width", "model.architecture"}
    assert dists["train.lr"].log and dists["model.width"].low == 8  # type: ignore[attr-defined]
    assert list(distributions(TuneConfig().search_space)) == ["train.lr"]


def test_a_dumped_config_reads_back_with_its_space() -> None:
    config = parse_config(SPACE)
    again = Config.model_validate(config.model_dump(mode="json"))
    assert again.tune.search_space == config.tune.search_space


def test_narrowing_stays_inside_the_full_range_and_around_the_top_values() -> None:
    full = Range.of(Dimension.parse("lr", "log-uniform 1e-5 1e-1"))
    narrow = full.around([1e-3, 2e-3])
    assert full.low <= narrow.low < 1e-3 and 2e-3 < narrow.high <= full.high
    # in log space the padded span is far smaller than the full four decades
    assert math.log(narrow.high / narrow.low) < 0.5 * math.log(full.high / full.low)
    ints = Range.of(Dimension.parse("width", "int 8 256")).around([64, 64])
    assert ints.low < 64 < ints.high and float(ints.low).is_integer()
    picks = Range.of(Dimension.parse("a", "choice mlp lenet resnet")).around(["lenet", "lenet"])
    assert picks.choices == ("lenet",)


def _synthetic(trial: optuna.Trial) -> float:
    """Best at lr = 1e-3, width = 100 and lenet: a smooth bowl in log-lr."""
    p = suggest(trial, distributions(_space()))
    return (
        -((math.log10(p["train.lr"]) + 3) ** 2)
        - ((p["model.width"] - 100) / 100) ** 2
        - (0.5 if p["model.architecture"] == "mlp" else 0.0)
    )


def _c2f(trials: int, rounds: int, seed: int = 0) -> optuna.Study:
    head = f'strategy = "coarse-to-fine"\ntrials = {trials}\nrounds = {rounds}\nseed = {seed}'
    tune = parse_config(f"[tune]\n{head}\n{SPACE}").tune
    study = optuna.create_study(direction="maximize", sampler=make_sampler(tune, full_ranges(tune)))
    study.optimize(_synthetic, n_trials=trials)
    return study


def test_coarse_to_fine_samples_each_round_inside_the_stored_narrowed_ranges() -> None:
    study = _c2f(trials=24, rounds=3)
    r1, r2 = (study.user_attrs[ROUND_ATTR.format(r)] for r in (1, 2))
    for r, ranges in ((1, r1), (2, r2)):
        lr = Range.from_dict(ranges["train.lr"])
        for t in study.trials[8 * r : 8 * (r + 1)]:
            assert lr.low <= t.params["train.lr"] <= lr.high
    full_span = math.log(1e-1 / 1e-5)
    spans = [
        math.log(Range.from_dict(r["train.lr"]).high / Range.from_dict(r["train.lr"]).low)
        for r in (r1, r2)
    ]
    assert spans[0] < full_span and spans[1] <= spans[0]
    # the narrowed rounds are better on average than the coarse one
    mean = [sum(t.value for t in study.trials[8 * r : 8 * (r + 1)]) / 8 for r in range(3)]
    assert mean[2] > mean[0]


def test_random_and_coarse_to_fine_draw_the_same_trials_whoever_runs_them() -> None:
    """Each value is seeded by (seed, trial number, parameter), not by the worker."""
    a, b = _c2f(12, 2), _c2f(12, 2)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    c = _c2f(12, 2, seed=1)
    assert [t.params for t in a.trials] != [t.params for t in c.trials]


def test_a_sampler_of_one_round_is_plain_random_search() -> None:
    tune = parse_config('[tune]\nstrategy = "random"\ntrials = 10\n' + SPACE).tune
    sampler = make_sampler(tune, {})
    assert isinstance(sampler, CoarseToFineSampler) and sampler.rounds == 1


@pytest.mark.parametrize("kind", ["tpe", "gp"])
def test_bayes_uses_optunas_samplers_and_beats_the_first_random_trials(kind: str) -> None:
    tune = parse_config(
        f'[tune]\nstrategy = "bayes"\nsampler = "{kind}"\ntrials = 20\nstartup_trials = 5\n' + SPACE
    ).tune
    sampler = make_sampler(tune, {})
    assert type(sampler).__name__ == {"tpe": "TPESampler", "gp": "GPSampler"}[kind]
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_synthetic, n_trials=20)
    # the model-guided trials are better, on average, than the random ones it started from
    startup = sum(t.value for t in study.trials[:5]) / 5
    guided = sum(t.value for t in study.trials[10:]) / 10
    assert guided > startup
