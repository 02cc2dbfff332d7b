"""Lazy package exports: a package's public names live in submodules, imported on first use.

``import dlstack.serve`` must not pull in torch, and ``import dlstack`` must stay fast for the
CLI, so the packages re-export their submodules' names through a module ``__getattr__``
(PEP 562) that calls :func:`lazy_attribute`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["lazy_attribute"]


def lazy_attribute(package: str, homes: Mapping[str, str], name: str) -> Any:
    """``package.name``, imported from ``package.<homes[name]>`` (or from ``homes[name]``
    itself when it is a full ``dlstack.`` module path) and cached on the package.

    >>> lazy_attribute("dlstack.models", {"init_weights": "_init"}, "init_weights").__name__
    'init_weights'
    """
    if name not in homes:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    home = homes[name]
    module = home if home.startswith("dlstack.") else f"{package}.{home}"
    value = getattr(importlib.import_module(module), name)
    setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
    return value
