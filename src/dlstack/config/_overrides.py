"""Overrides of config keys: ``--set train.lr=1e-3`` on the command line, a tuning trial's
parameters. One path for both, so a trial and a manual run with the same values train the
same model, and every value is validated like dlstack.toml's own.

>>> from dlstack.config._root import Config
>>> with_overrides(Config(), {"train.lr": 1e-3, "model.width": 32}).train.lr
0.001
>>> parse_override("train.batch_size=32")
('train.batch_size', 32)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from dlstack.config._base import Section, format_validation_error
from dlstack.config._train import ModelConfig, TrainConfig
from dlstack.errors import ConfigError

# The whole file's Config (config._root imports this module, so it is a type variable).
C = TypeVar("C", bound=Section)

__all__ = [
    "OVERRIDABLE_SECTIONS",
    "full_key",
    "overridable_keys",
    "parse_override",
    "with_overrides",
]

# What a run may change without a new dlstack.toml: how the model is built and trained.
# Data, metric, gate... are the project's definition; changing them is editing the file.
OVERRIDABLE_SECTIONS = ("train", "model")
_SECTIONS: dict[str, type[Section]] = {"train": TrainConfig, "model": ModelConfig}


def overridable_keys() -> list[str]:
    """``["model.architecture", "model.width", "train.batch_size", ...]``."""
    keys = []
    for section, model in _SECTIONS.items():
        keys += [f"{section}.{name}" for name in model.model_fields]
    return sorted(keys)


def full_key(key: str) -> str:
    """``lr`` -> ``train.lr``, ``width`` -> ``model.width``; a dotted key is checked as is."""
    keys = overridable_keys()
    if key in keys:
        return key
    matches = [k for k in keys if k.split(".", 1)[1] == key]
    if len(matches) == 1:
        return matches[0]
    raise ConfigError(
        f"{key!r} is not a key a run can change; allowed: {', '.join(keys)} (the section "
        f"may be left out where the name is unique, e.g. 'lr')"
    )


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (full key, value); VALUE is read as TOML (numbers, true/false,
    arrays, inline tables), else taken as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"--set {text!r} is not KEY=VALUE; for example --set train.lr=1e-3 or --set "
            f"model.architecture=resnet"
        )
    return full_key(key.strip()), _toml_value(raw.strip())


def with_overrides(config: C, overrides: Mapping[str, Any]) -> C:
    """``config`` with each ``section.key`` replaced, validated as a whole again."""
    if not overrides:
        return config
    root = type(config)
    raw = config.model_dump(mode="json", exclude_unset=False)
    for key, value in overrides.items():
        section, name = full_key(key).split(".", 1)
        raw[section][name] = value
    try:
        return root.model_validate(raw)
    except ValidationError as e:
        what = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        raise ConfigError(f"{format_validation_error(e, root)} (overriding {what})") from None


def _toml_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
