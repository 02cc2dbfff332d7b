"""``build_model``: a registered architecture by name, or the user's own via "module:callable"."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from dlstack.errors import ModelError
from dlstack.models._init import init_weights
from dlstack.models._zoo import build_builtin, resolve_architecture, width_kwargs
from dlstack.resolve import is_code_spec, resolve

__all__ = ["build_model", "is_user_spec", "user_model_source"]


def is_user_spec(architecture: str) -> bool:
    """True for "package.module:callable" (a user model), False for a registered name."""
    return is_code_spec(architecture)


def build_model(
    architecture: str,
    input_shape: Sequence[int] | Mapping[str, Sequence[int]],
    num_classes: int,
    *,
    dropout: float = 0.0,
    width: int | None = None,
    search_path: str | Path | None = None,
) -> tuple[nn.Module, str]:
    """Build a freshly initialized model; returns ``(module, resolved_name)``.

    ``architecture`` is "auto" (LeNet-like CNN for images, MLP for flat features, Fusion
    for several inputs), a registered name ("mlp", "lenet", "resnet", "fusion"), or
    "package.module:callable". ``input_shape`` is one example's shape, or for several
    inputs a dict of them by input name (``{"image": (1, 28, 28), "features": (3,)}``):
    the model is then called with one dict argument of that form. A user callable is
    called with ``input_shape=`` (the dict, for several inputs) and ``num_classes=``
    (those its signature accepts) and keeps its own initialization; dlstack's
    architectures get He-normal weights. ``width`` (``[model] width``) is the first layer's
    width, later layers keep the architecture's ratios; a user callable gets it as
    ``width=`` when its signature takes it. ``search_path`` (the project directory) is tried
    when the user's module cannot be imported from ``sys.path`` as it is.

    >>> import torch
    >>> model, name = build_model("auto", (1, 8, 8), 10)
    >>> name, tuple(model(torch.zeros(2, 1, 8, 8)).shape)
    ('lenet', (2, 10))
    """
    shape: tuple[int, ...] | dict[str, tuple[int, ...]]
    if isinstance(input_shape, Mapping):
        shape = {str(k): tuple(int(d) for d in v) for k, v in input_shape.items()}
    else:
        shape = tuple(int(d) for d in input_shape)
    if is_user_spec(architecture):
        return _build_user(architecture, shape, num_classes, search_path, width), architecture
    name = resolve_architecture(architecture, shape)
    if isinstance(shape, dict):
        if name != "fusion":
            shapes = ", ".join(f"{k} {v}" for k, v in shape.items())
            raise ModelError(
                f"architecture {name!r} takes one input; this data has several ({shapes}). "
                f'Use "auto" (or "fusion": one encoder per input, concatenated), or your '
                f"own model that takes a dict of them ('package.module:callable')"
            )
        from dlstack.models._fusion import Fusion

        fusion = Fusion(shape, num_classes, dropout=dropout, **width_kwargs(name, width))
        return init_weights(fusion), name
    return build_builtin(name, shape, num_classes, dropout, width), name


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
    spec: str,
    input_shape: tuple[int, ...] | dict[str, tuple[int, ...]],
    num_classes: int,
    search_path: str | Path | None,
    width: int | None = None,
) -> nn.Module:
    fn = _resolve_user_callable(spec, search_path)
    offered: dict[str, Any] = {"input_shape": input_shape, "num_classes": num_classes}
    if width is not None:
        offered["width"] = width
    kwargs = _accepted_kwargs(fn, offered)
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
    if not is_code_spec(spec):
        raise ModelError(
            f"architecture {spec!r} is not of the form 'package.module:callable'; "
            f"for example 'my_models:build_net'"
        )
    _, fn = resolve(
        spec, what="architecture", registry={}, search_path=search_path, error=ModelError
    )
    return fn


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
