"""Declared data steps whose outputs are cached by the content of their inputs, their
parameters and their code (joblib.Memory), so re-running executes only stale steps.

    [[data.steps]]
    name = "balance"
    call = "resample"                 # a built-in (dlstack.data._steps) or "module:function"
    params = { strategy = "oversample" }

A step is ``fn(snapshot, *, seed, **params) -> Snapshot``. Steps run in order, each on the
previous one's output, starting from the checked-out data version.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from dlstack.data._snapshot import Snapshot
from dlstack.errors import ConfigError
from dlstack.resolve import resolve

__all__ = ["StepReport", "resolve_step", "run_steps"]


@dataclass(frozen=True)
class StepReport:
    name: str
    status: str  # "ran" or "cached"
    seconds: float
    examples: int


def resolve_step(call: str, search_path: str | Path | None = None) -> Callable[..., Snapshot]:
    from dlstack.data._steps import BUILTIN_STEPS

    _, step = resolve(call, what="data step", registry=BUILTIN_STEPS, search_path=search_path)
    return cast("Callable[..., Snapshot]", step)


def run_steps(
    snapshot: Snapshot,
    steps: list[tuple[str, str, dict[str, Any]]],
    *,
    cache_dir: Path,
    seed: int = 0,
    search_path: str | Path | None = None,
) -> tuple[Snapshot, list[StepReport]]:
    """Run ``(name, call, params)`` steps in order, reusing cached outputs; user steps
    ("module:function") import from ``search_path`` (the project directory) too."""
    from joblib import Memory

    memory = Memory(str(cache_dir), verbose=0)
    reports = []
    current = snapshot
    for name, call, params in steps:
        raw = resolve_step(call, search_path)
        try:
            inspect.signature(raw).bind(current, seed=seed, **params)
        except TypeError as e:
            raise ConfigError(
                f"data step {name!r} ({call}) rejected its params {params}: {e}"
            ) from None
        fn = memory.cache(raw)
        # The snapshot's arrays are hashed by content, so an unchanged input is recognised
        # even when it was checked out again; joblib also notices a changed function body.
        args = (_plain(current),)
        kwargs = {"seed": seed, **params}
        cached = fn.check_call_in_cache(*args, **kwargs)
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        if not isinstance(out, Snapshot):
            raise ConfigError(
                f"data step {name!r} ({call}) returned {type(out).__name__}, expected a Snapshot"
            )
        reports.append(
            StepReport(
                name, "cached" if cached else "ran", time.perf_counter() - t, len(out.labels)
            )
        )
        current = out
    return current, reports


def _plain(snap: Snapshot) -> Snapshot:
    """The snapshot with in-memory arrays: joblib then hashes content, not a memmap's path."""
    import numpy as np

    return Snapshot(
        snap.version,
        snap.classes,
        np.asarray(snap.images),
        np.asarray(snap.labels),
        np.asarray(snap.splits),
        np.asarray(snap.ids),
    )
