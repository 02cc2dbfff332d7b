"""One rule for settings that name code: ``"auto"``, a registered name, or
``"module:callable"``.

Architectures, rule baselines and data steps are all given this way. A registered name
wins; otherwise ``"module:attr[.attr...]"`` is imported, first from ``sys.path`` as it
is, then from the project directory (``search_path``), which is never left on
``sys.path``. Errors name the setting, list the registered names and say how to fix it.

>>> resolve("len", what="data step", registry={"len": len})
('len', <built-in function len>)
>>> resolve("os.path:join", what="data step", registry={})[0]
'os.path:join'
>>> is_code_spec("pkg.mod:build"), is_code_spec("lenet")
(True, False)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dlstack.errors import ConfigError, DlstackError

__all__ = ["check_spec", "importable_from", "is_code_spec", "resolve"]


def is_code_spec(spec: str) -> bool:
    """True for ``"module:callable"`` (user code), False for a registered name."""
    module, _, attr = spec.partition(":")
    return bool(module) and bool(attr)


def check_spec(spec: str, names: tuple[str, ...] | list[str]) -> str:
    """``spec`` if it is one of ``names`` or of the form ``module:callable``; for config
    validation, before anything is imported. Raises ValueError (pydantic's convention)."""
    if spec in names or is_code_spec(spec):
        return spec
    raise ValueError(
        f"must be one of {', '.join(repr(n) for n in names)} or 'module:callable', got {spec!r}"
    )


def resolve(
    spec: str,
    *,
    what: str,
    registry: Mapping[str, Any],
    search_path: str | Path | None = None,
    error: type[DlstackError] = ConfigError,
    auto: Callable[[], str] | None = None,
) -> tuple[str, Any]:
    """``(name, object)`` for ``spec``: ``"auto"`` (``auto()`` picks a registered name), a
    registered name, or ``"module:attr"``. ``what`` names the setting in errors."""
    if spec == "auto" and auto is not None:
        spec = auto()
    if spec in registry:
        return spec, registry[spec]
    known = ", ".join(repr(n) for n in registry) or "none"
    if not is_code_spec(spec):
        raise error(
            f"{what} {spec!r} is not registered: it is neither a built-in {what} (known: "
            f"{known}) nor of the form 'package.module:callable' (for example "
            f"'my_module:build')"
        )
    module_name, _, attr = spec.partition(":")
    try:
        with importable_from(search_path):
            module = importlib.import_module(module_name)
    except ImportError as e:
        where = f" or {search_path}" if search_path is not None else ""
        raise error(
            f"{what} {spec!r}: module {module_name!r} cannot be imported ({e}); put it on "
            f"the Python path{where} (e.g. a .py file in the project directory or an "
            f"installed package) and check its spelling"
        ) from e
    except Exception as e:
        raise error(
            f"{what} {spec!r}: importing {module_name!r} raised {type(e).__name__}: {e}; "
            f"fix the error in that module"
        ) from e
    found: Any = module
    for part in attr.split("."):
        if not hasattr(found, part):
            public = sorted(n for n in dir(module) if not n.startswith("_"))
            raise error(
                f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}; it "
                f"defines {', '.join(public[:12]) or 'nothing public'}; fix the name after "
                f"the colon"
            )
        found = getattr(found, part)
    if not callable(found):
        raise error(
            f"{what} {spec!r}: {attr!r} is a {type(found).__name__}, not callable; point it "
            f"at a function or class"
        )
    return spec, found


@contextmanager
def importable_from(path: str | Path | None) -> Iterator[None]:
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
