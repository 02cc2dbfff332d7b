"""Declared data steps whose outputs are cached by the content of their inputs, their
parameters and their code, so re-running executes only stale steps.

    [[data.steps]]
    name = "balance"
    call = "resample"                 # a built-in (dlstack.data._steps) or "module:function"
    params = { strategy = "oversample" }

A step is ``fn(snapshot, *, seed, **params) -> Snapshot``. Steps run in order, each on the
previous one's output, starting from the checked-out data version.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from dlstack.data._snapshot import Snapshot, SnapshotDamaged
from dlstack.errors import ConfigError, DlstackWarning
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
    ("module:function") import from ``search_path`` (the project directory) too.

    A step's output is cached as a snapshot (arrays and JSON, never a pickle: nothing in
    the cache can run code when it is read), keyed by the input's content, the call, its
    params, the seed and the step function's source code.
    """
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
        t = time.perf_counter()
        plain = _plain(current)
        key = _cache_key(plain, call, params, seed, raw)
        folder = Path(cache_dir) / key[:2] / key
        out = _cached(folder)
        cached = out is not None
        if out is None:
            made = raw(plain, seed=seed, **params)
            if not isinstance(made, Snapshot):
                raise ConfigError(
                    f"data step {name!r} ({call}) returned {type(made).__name__}, expected a "
                    f"Snapshot"
                )
            made.save(folder)
            out = Snapshot.load(folder)
        reports.append(
            StepReport(
                name, "cached" if cached else "ran", time.perf_counter() - t, len(out.labels)
            )
        )
        current = out
    return current, reports


def _cache_key(
    snapshot: Snapshot, call: str, params: dict[str, Any], seed: int, fn: Callable[..., Any]
) -> str:
    try:
        code = inspect.getsource(fn)
    except (OSError, TypeError):  # no source (a builtin, a REPL lambda): its name only
        code = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
    spec = {
        "input": snapshot.fingerprint(),
        "call": call,
        "params": params,
        "seed": seed,
        "code": hashlib.sha256(code.encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def _cached(folder: Path) -> Snapshot | None:
    if not (folder / "meta.json").is_file():
        return None
    try:
        return Snapshot.load(folder)
    except SnapshotDamaged as e:
        warnings.warn(f"{e}; running the step again", DlstackWarning, stacklevel=3)
        return None


def _plain(snap: Snapshot) -> Snapshot:
    """The snapshot with in-memory arrays: a step may change them without touching files."""
    return snap.select(slice(None))
