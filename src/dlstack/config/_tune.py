"""``[tune]`` and ``[tune.space]``: how `dlstack tune` searches, and over what.

    [tune]
    strategy = "coarse-to-fine"     # random | coarse-to-fine | bayes
    trials = 24
    [tune.space]
    lr = "log-uniform 1e-5 1e-2"    # uniform | log-uniform | int | log-int LOW HIGH
    width = "int 16 256"
    architecture = "choice lenet resnet"   # or a TOML array: ["lenet", "resnet"]

A key is any ``[train]`` or ``[model]`` key (``lr`` or ``train.lr``); each dimension's
ends (or choices) are validated as that key's values when the whole file is read.

>>> d = Dimension.parse("lr", "log-uniform 1e-5 1e-2")
>>> d.kind, d.low, d.high, d.log
('float', 1e-05, 0.01, True)
>>> Dimension.parse("architecture", "choice lenet resnet").choices
['lenet', 'resnet']
"""

from __future__ import annotations

import math
import tomllib
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from dlstack.config._base import Section

__all__ = ["DEFAULT_SPACE", "DISTRIBUTIONS", "Dimension", "TuneConfig"]

Strategy = Literal["random", "coarse-to-fine", "bayes"]
Sampler = Literal["tpe", "gp"]
Pruner = Literal["none", "median", "hyperband"]

# Without a [tune.space]: the learning rate, three decades around Adam's 3e-4 (the
# practice: the learning rate is the hyperparameter that matters most).
DEFAULT_SPACE = {"lr": "log-uniform 1e-5 1e-2"}

# name -> (kind, log scale)
DISTRIBUTIONS: dict[str, tuple[str, bool]] = {
    "uniform": ("float", False),
    "log-uniform": ("float", True),
    "int": ("int", False),
    "log-int": ("int", True),
    "choice": ("choice", False),
}


class Dimension(Section):
    """One searched key: a float or int range (``log`` for a log scale) or a set of choices."""

    key: str  # as written in [tune.space]; the config module resolves it to section.key
    kind: Literal["float", "int", "choice"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] = Field(default_factory=list)

    @classmethod
    def parse(cls, key: str, spec: Any) -> Dimension:
        """``"log-uniform 1e-5 1e-2"``, ``"choice a b"`` or a TOML array of choices."""
        if isinstance(spec, list):
            return cls._choices(key, spec)
        if not isinstance(spec, str) or not spec.split():
            raise ValueError(
                f'tune.space.{key} must be a string such as "log-uniform 1e-5 1e-2" or an '
                f"array of choices, got {spec!r}"
            )
        name, *args = spec.split()
        if name not in DISTRIBUTIONS:
            raise ValueError(
                f"tune.space.{key}: unknown distribution {name!r} in {spec!r}; use one of "
                f'{", ".join(DISTRIBUTIONS)} (e.g. "log-uniform 1e-5 1e-2", "choice a b")'
            )
        kind, log = DISTRIBUTIONS[name]
        if kind == "choice":
            return cls._choices(key, [_scalar(a) for a in args])
        if len(args) != 2:
            raise ValueError(
                f'tune.space.{key}: {name} takes LOW HIGH, got {spec!r} (e.g. "{name} 1 10")'
            )
        low, high = (_number(key, a, integer=kind == "int") for a in args)
        if not low < high:
            raise ValueError(
                f"tune.space.{key}: the range {spec!r} is empty; LOW must be below HIGH"
            )
        if log and low <= 0:
            raise ValueError(
                f"tune.space.{key}: a log scale needs LOW > 0, got {spec!r}; use {name} "
                f"with a positive LOW, or {'uniform' if kind == 'float' else 'int'}"
            )
        return cls(key=key, kind=kind, low=low, high=high, log=log)  # type: ignore[arg-type]

    @classmethod
    def _choices(cls, key: str, values: list[Any]) -> Dimension:
        if len(values) < 2:
            raise ValueError(
                f"tune.space.{key}: a choice needs at least two values, got {values!r}"
            )
        if len({repr(v) for v in values}) != len(values):
            raise ValueError(f"tune.space.{key}: the choices {values!r} repeat a value")
        return cls(key=key, kind="choice", choices=list(values))

    def ends(self) -> list[Any]:
        """The values the config must accept for the whole dimension to be valid."""
        if self.kind == "choice":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]

    def describe(self) -> str:
        if self.kind == "choice":
            return "choice " + " ".join(map(str, self.choices))
        name = {("float", False): "uniform", ("float", True): "log-uniform"}.get(
            (self.kind, self.log), "log-int" if self.log else "int"
        )
        return f"{name} {self.low:g} {self.high:g}"


class TuneConfig(Section):
    strategy: Strategy = "coarse-to-fine"  # the practice: coarse-to-fine random search first
    trials: Annotated[int, Field(ge=1, le=100_000)] = 20  # all rounds together
    rounds: Annotated[int, Field(ge=1, le=100)] = 3  # coarse-to-fine rounds
    # Coarse-to-fine: each round searches around the best `top_k` trials of those before it.
    top_k: Annotated[int, Field(ge=1)] = 3
    sampler: Sampler = "tpe"  # bayes: Optuna's TPE, or its Gaussian-process sampler
    startup_trials: Annotated[int, Field(ge=1)] | None = None  # bayes: random ones first
    pruner: Pruner = "none"  # stop bad trials on their per-epoch validation values
    prune_coarse: bool = False  # coarse-to-fine: prune in the first (coarse) round too
    # Epochs per trial (None: [train] max_epochs); short trials, then retrain the winner.
    max_epochs: Annotated[int, Field(ge=1)] | None = None
    seed: int = 0
    study: str = ""  # the study's name in the storage; "" = the project's name
    # An Optuna RDB URL (postgresql+psycopg://..., sqlite:///...); "" = the project's own
    # sqlite file under .dlstack/tune/. Workers anywhere share a study through it.
    storage: str = ""
    # A worker writes a heartbeat this often; a trial without one for 2x this is marked
    # failed (its worker died), and the study goes on.
    heartbeat_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    space: dict[str, Dimension] = Field(default_factory=dict)

    @field_validator("space", mode="before")
    @classmethod
    def _parse_space(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise ValueError(
                f'must be a table of key = "distribution" entries, got {type(raw).__name__}'
            )
        return {
            key: spec
            if isinstance(spec, Dimension)
            # a dumped config read back (a run's saved config, --set over it)
            else Dimension.model_validate(spec)
            if isinstance(spec, dict)
            else Dimension.parse(key, spec)
            for key, spec in raw.items()
        }

    @model_validator(mode="after")
    def _enough_trials(self) -> TuneConfig:
        if self.strategy == "coarse-to-fine" and self.trials < self.rounds:
            raise ValueError(
                f"tune.trials = {self.trials} is fewer than tune.rounds = {self.rounds}; "
                f"coarse-to-fine needs at least one trial per round"
            )
        return self

    @property
    def search_space(self) -> dict[str, Dimension]:
        """``space``, or DEFAULT_SPACE when [tune.space] is left out."""
        if self.space:
            return dict(self.space)
        return {k: Dimension.parse(k, v) for k, v in DEFAULT_SPACE.items()}

    @property
    def trials_per_round(self) -> int:
        rounds = self.rounds if self.strategy == "coarse-to-fine" else 1
        return math.ceil(self.trials / rounds)


def _number(key: str, text: str, *, integer: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"tune.space.{key}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"tune.space.{key}: {text!r} is not a finite number")
    if integer and not value.is_integer():
        raise ValueError(f"tune.space.{key}: an int range takes whole numbers, got {text!r}")
    return value


def _scalar(text: str) -> Any:
    """``"64"`` -> 64, ``"true"`` -> True, ``"1e-3"`` -> 0.001, anything else as written."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
