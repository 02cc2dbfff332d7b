"""Version directories: ``<models>/<name>/<n>/``, numbered 1, 2, ... and never reused.

The only place that decides what a version directory is (ASCII digits, nothing else: a
``²`` or a ``١`` is not a version), which one is the newest, the previous or the next,
and how a finished package claims its number (one atomic rename, retried when another
export claimed it first).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dlstack.errors import CheckFailed, PackageError
from dlstack.package._spec import SPEC_FILE, PackageSpec, write_spec

__all__ = [
    "is_version",
    "next_version",
    "previous_version",
    "publish_version",
    "resolve_package",
    "version_numbers",
]

_VERSION = re.compile(r"^[0-9]{1,9}$")  # ASCII digits only; str.isdigit() also takes "²"


def is_version(name: str) -> bool:
    """Whether ``name`` is a version number as dlstack writes them.

    >>> is_version("12"), is_version("²"), is_version("-1")
    (True, False, False)
    """
    return bool(_VERSION.match(name))


def version_numbers(name_dir: Path) -> list[int]:
    """The version numbers under ``name_dir``, ascending (empty if none or no folder)."""
    if not name_dir.is_dir():
        return []
    return sorted(int(p.name) for p in name_dir.iterdir() if p.is_dir() and is_version(p.name))


def next_version(name_dir: Path) -> int:
    """1 + the highest numbered version directory under ``name_dir`` (1 if none)."""
    return max(version_numbers(name_dir), default=0) + 1


def previous_version(version_dir: Path) -> Path | None:
    """The highest-numbered sibling version below ``version_dir`` (None if none)."""
    if not is_version(version_dir.name):
        return None
    mine = int(version_dir.name)
    older = [n for n in version_numbers(version_dir.parent) if n < mine]
    return version_dir.parent / str(max(older)) if older else None


def resolve_package(path: Path) -> Path:
    """A version dir, a name dir (-> its highest numbered version) or a model.json path."""
    if path.is_file():
        if path.name != SPEC_FILE:
            raise PackageError(
                f"{path} is not a model package; pass its directory or its {SPEC_FILE}"
            )
        return path.parent
    if not path.is_dir():
        raise PackageError(
            f"no model package at {path}; pass .dlstack/models/<name>[/<n>] "
            f"(create one with `dlstack export`)"
        )
    if (path / SPEC_FILE).is_file():
        return path
    versions = version_numbers(path)
    if not versions:
        raise PackageError(
            f"{path} holds no {SPEC_FILE} and no numbered versions; pass "
            f".dlstack/models/<name>[/<n>] (create one with `dlstack export`)"
        )
    latest = path / str(versions[-1])
    if not (latest / SPEC_FILE).is_file():
        raise PackageError(
            f"the latest version {latest} has no {SPEC_FILE}; it is damaged, "
            f"remove it or pass an older version directory"
        )
    return latest


def publish_version(tmp: Path, name_dir: Path, spec: PackageSpec) -> Path:
    """Rename the finished package folder ``tmp`` (inside ``name_dir``) to the next free
    version number, with ``model.json`` saying that number; returns the version dir."""
    for _ in range(1000):
        version = next_version(name_dir)
        write_spec(tmp, spec.model_copy(update={"version": version}))
        target = name_dir / str(version)
        try:
            os.rename(tmp, target)
            return target
        except OSError:
            if not target.exists():
                raise
        # another export took that number meanwhile: take the next one
    raise CheckFailed(f"could not claim a version number under {name_dir}")
