"""``build_model``: a registered architecture by name, or the user's own via "module:callable"."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import nn

from dlstack.errors import ModelError
from dlstack.models._zoo import build_builtin, resolve_architecture

__all__ = ["build_model", "is_user_spec", "user_model_source"]


def is_user_spec(architecture: str) -> bool:
    """True for "package.module:callable" (a user model), False for a registered name."""
    return ":" in architecture


def build_model(
    architecture: str,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    dropout: float = 0.0,
    search_path: str | Path | None = None,
) -> tuple[nn.Module, str]:
    """Build a freshly initialized model; returns ``(module, resolved_name)``.

    ``architecture`` is "auto" (LeNet-like CNN for images, MLP for flat features), a
    registered name ("mlp", "lenet", "resnet"), or "package.module:callable". A user
    callable is called with ``input_shape=`` and ``num_classes=`` (those its signature
    accepts) and keeps its own initialization; dlstack's architectures get He-normal
    weights. ``search_path`` (the project directory) is tried when the user's module
    cannot be imported from ``sys.path`` as it is.

    >>> import torch
    >>> model, name = build_model("auto", (1, 8, 8), 10)
    >>> name, tuple(model(torch.zeros(2, 1, 8, 8)).shape)
    ('lenet', (2, 10))
    """
    shape = tuple(int(d) for d in input_shape)
    if is_user_spec(architecture):
        return _build_user(architecture, shape, num_classes, search_path), architecture
    name = resolve_architecture(architecture, shape)
    return build_builtin(name, shape, num_classes, dropout), name


def user_model_source(
    architecture: str, search_path: str | Path | None = None
) -> tuple[str, str] | None:
    """(source file, short sha256 of its bytes) of a user model, for the code version."""
    fn = _resolve_user_callable(architecture, search_path)
    try:
        source = inspect.getsourcefile(fn) or inspect.getfile(fn)
    except TypeError:
        return None
    path = Path(source)
    if not path.is_file():
        return None
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _build_user(
    spec: str, input_shape: tuple[int, ...], num_classes: int, search_path: str | Path | None
) -> nn.Module:
    fn = _resolve_user_callable(spec, search_path)
    kwargs = _accepted_kwargs(fn, {"input_shape": input_shape, "num_classes": num_classes})
    try:
        model = fn(**kwargs)
    except Exception as e:
        raise ModelError(
            f"architecture {spec!r}: calling it with {_fmt_kwargs(kwargs)} raised "
            f"{type(e).__name__}: {e}; fix the function so it builds a model from these "
            f"arguments"
        ) from e
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"architecture {spec!r} returned {type(model).__name__}, expected a "
            f"torch.nn.Module; make the callable return the model (an nn.Module instance)"
        )
    return model


def _resolve_user_callable(spec: str, search_path: str | Path | None) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ModelError(
            f"architecture {spec!r} is not of the form 'package.module:callable'; "
            f"for example 'my_models:build_net'"
        )
    try:
        with _importable_from(search_path):
            module = importlib.import_module(module_name)
    except ImportError as e:
        where = f" or {search_path}" if search_path is not None else ""
        raise ModelError(
            f"architecture {spec!r}: module {module_name!r} cannot be imported ({e}); put it "
            f"on the Python path{where} (e.g. a .py file in the project directory or an "
            f"installed package) and check its spelling"
        ) from e
    except Exception as e:
        raise ModelError(
            f"architecture {spec!r}: importing {module_name!r} raised {type(e).__name__}: "
            f"{e}; fix the error in that module"
        ) from e
    fn: Any = module
    for part in attr.split("."):
        if not hasattr(fn, part):
            public = sorted(n for n in dir(module) if not n.startswith("_"))
            raise ModelError(
                f"architecture {spec!r}: module {module_name!r} has no attribute {attr!r}; "
                f"it defines {', '.join(public[:12]) or 'nothing public'}; fix the name "
                f"after the colon"
            )
        fn = getattr(fn, part)
    if not callable(fn):
        raise ModelError(
            f"architecture {spec!r}: {attr!r} is a {type(fn).__name__}, not callable; point "
            f"it at a function or class that returns an nn.Module"
        )
    return fn


@contextmanager
def _importable_from(path: str | Path | None) -> Iterator[None]:
    """Let the project directory's own modules import, without leaving it on sys.path."""
    entry = str(Path(path).resolve()) if path is not None else None
    added = entry is not None and entry not in sys.path
    if added:
        sys.path.insert(0, entry)  # type: ignore[arg-type]
    try:
        yield
    finally:
        if added:
            sys.path.remove(entry)  # type: ignore[arg-type]


def _accepted_kwargs(fn: Any, offered: dict[str, Any]) -> dict[str, Any]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature: offer everything
        return offered
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return offered
    return {k: v for k, v in offered.items() if k in params}


def _fmt_kwargs(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"
