"""What every config section shares: frozen, no unknown keys, and one-line error messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Section", "format_validation_error"]


class Section(BaseModel):
    """A ``[section]`` of dlstack.toml: validated once, then trusted (frozen)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def format_validation_error(err: ValidationError, root: type[BaseModel]) -> str:
    """One line per problem: ``train.lr must be > 0, got -1``."""
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if not isinstance(p, int)) or "config"
        got = e.get("input")
        ctx = e.get("ctx") or {}
        kind = e["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(root, e["loc"][:-1])
            lines.append(f"{key} is not a known key; allowed here: {', '.join(allowed)}")
            continue
        if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            op = {
                "greater_than": ">",
                "greater_than_equal": ">=",
                "less_than": "<",
                "less_than_equal": "<=",
            }[kind]
            bound = next(iter(ctx.values()))
            if isinstance(bound, float) and bound.is_integer():
                bound = int(bound)
            lines.append(f"{key} must be {op} {bound}, got {got!r}")
        elif kind == "literal_error":
            lines.append(f"{key} must be one of {ctx.get('expected')}, got {got!r}")
        elif kind == "value_error":
            lines.append(f"{key} {ctx.get('error', e['msg'])}")
        elif kind == "missing":
            lines.append(f"{key} is required")
        else:
            lines.append(f"{key}: {e['msg'].lower()}, got {got!r}")
    return "\n".join(lines)


def _allowed_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = root
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            break
        model = field.annotation
    return sorted(model.model_fields)
