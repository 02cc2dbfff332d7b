"""Inputs and targets that are not one tensor: a tuple, list or dict of tensors.

Models with several inputs take ``model(x1, x2)`` or ``model(**batch)``; CTC targets come
as ``(targets, lengths)``. The doctor keeps such a value as a *tree* (a tensor, or a
tuple/list/dict of trees) whose leaves all have the examples along their first dimension,
and indexes, moves and describes it leaf by leaf.

>>> import torch
>>> t = {"ids": torch.zeros(4, 3, dtype=torch.long), "mask": torch.ones(4, 3)}
>>> batch_len(t), [name for name, _ in named_leaves(t, "input")]
(4, ["input['ids']", "input['mask']"])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "CallAdapter",
    "Tree",
    "batch_len",
    "call_style",
    "describe",
    "index",
    "is_tensor",
    "leaves",
    "map_tree",
    "named_leaves",
    "to_device",
    "trees_equal",
]

Tree = Any  # Tensor | tuple[Tree, ...] | list[Tree] | dict[str, Tree]


def is_tensor(tree: Tree) -> bool:
    return isinstance(tree, Tensor)


def map_tree(fn: Callable[[Tensor], Any], tree: Tree) -> Tree:
    """``fn`` applied to every tensor leaf; the structure is kept (tuples stay tuples)."""
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: map_tree(fn, v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(map_tree(fn, v) for v in tree)
    return tree


def named_leaves(tree: Tree, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
    """(name, tensor) for every leaf, named like ``input[0]`` or ``input['ids']``."""
    if isinstance(tree, Tensor):
        yield prefix, tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield from named_leaves(v, f"{prefix}[{k!r}]")
    elif isinstance(tree, (tuple, list)):
        for i, v in enumerate(tree):
            yield from named_leaves(v, f"{prefix}[{i}]")


def leaves(tree: Tree) -> list[Tensor]:
    return [t for _, t in named_leaves(tree)]


def batch_len(tree: Tree) -> int:
    """The number of examples: the first leaf's first dimension (1 for a scalar)."""
    first = next(iter(leaves(tree)), None)
    if first is None:
        return 0
    return int(first.shape[0]) if first.ndim else 1


def index(tree: Tree, rows: Tensor | slice) -> Tree:
    return map_tree(lambda t: t[rows], tree)


def to_device(tree: Tree, device: torch.device) -> Tree:
    return map_tree(lambda t: t.to(device), tree)


def trees_equal(a: Tree, b: Tree) -> bool:
    la, lb = leaves(a), leaves(b)
    return len(la) == len(lb) and all(
        x.shape == y.shape and bool(torch.equal(x, y)) for x, y in zip(la, lb, strict=True)
    )


def describe(tree: Tree) -> str:
    """A short description for messages: ``a tuple of 2 tensors``."""
    if isinstance(tree, Tensor):
        return f"a {tuple(tree.shape)} {str(tree.dtype).removeprefix('torch.')} tensor"
    kinds: dict[type, str] = {dict: "dict", list: "list", tuple: "tuple"}
    kind = kinds.get(type(tree), type(tree).__name__)
    return f"a {kind} of {len(leaves(tree))} tensors"


def call_style(model: nn.Module, x: Tree) -> str:
    """How to call ``model`` on a batch: "single" ``model(x)``, "star" ``model(*x)`` or
    "kwargs" ``model(**x)``, decided from the signature of its ``forward``."""
    if isinstance(x, Tensor):
        return "single"
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return "single"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    var_args = any(p.kind == p.VAR_POSITIONAL for p in params)
    var_kwargs = any(p.kind == p.VAR_KEYWORD for p in params)
    if isinstance(x, dict):
        names = {p.name for p in params}
        keys = set(x)
        fits = (keys <= names or var_kwargs) and all(p.name in keys for p in required)
        return "kwargs" if fits else "single"
    if len(required) > 1 or (var_args and not required):
        return "star"
    return "single"


class CallAdapter(nn.Module):
    """Calls the wrapped model with ``*x`` or ``**x``: the doctor's trainings pass one
    value per batch, the model takes several."""

    def __init__(self, inner: nn.Module, style: str) -> None:
        super().__init__()
        self.inner = inner
        self.style = style

    def forward(self, x: Tree) -> Any:
        if self.style == "star":
            return self.inner(*x)
        if self.style == "kwargs":
            return self.inner(**x)
        return self.inner(x)
