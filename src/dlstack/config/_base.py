"""What every config section shares: frozen, no unknown keys, and one-line error messages."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Section", "format_validation_error"]


class Section(BaseModel):
    """A ``[section]`` of dlstack.toml: validated once, then trusted (frozen)."""

    # inf and NaN are never a setting: `lr = inf` would "train" to a NaN loss.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


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
            msg = str(ctx.get("error", e["msg"]))
            # A whole-file check ("config") or a message that names its own key already.
            lines.append(msg if key == "config" or msg.startswith(key) else f"{key} {msg}")
        elif kind == "missing" and isinstance(e["loc"][-1], int):
            # a fixed-length list (data.split) with too few items: pydantic names the index
            key = ".".join(str(p) for p in e["loc"][:-1] if not isinstance(p, int))
            lines.append(f"{key} has too few items, got {got!r}")
        elif kind == "missing":
            lines.append(f"{key} is required")
        elif kind in ("too_short", "too_long"):
            lines.append(
                f"{key} has too {'few' if kind == 'too_short' else 'many'} items, got {got!r}"
            )
        elif kind == "finite_number":
            lines.append(f"{key} must be a finite number, got {got!r}")
        else:
            lines.append(f"{key}: {e['msg'].lower()}, got {got!r}")
    return "\n".join(lines)


def _allowed_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys of the section at ``loc`` (through optional and list-of-section fields)."""
    model: type[BaseModel] = root
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list of sections: same section type
        field = model.model_fields.get(str(part))
        inner = _section_type(field.annotation) if field is not None else None
        if inner is None:
            break
        model = inner
    return sorted(model.model_fields)


def _section_type(annotation: Any) -> type[BaseModel] | None:
    """``X``, ``X | None`` or ``tuple[X, ...]`` -> X when X is a section, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _section_type(arg)
        if found is not None:
            return found
    return None
