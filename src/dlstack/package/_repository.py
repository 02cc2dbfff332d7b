"""A model repository: the folder of ``<name>/<n>/`` packages that export writes and
serving, testing, monitoring and the score read.

>>> repo = ModelRepository(".dlstack/models")
>>> repo.names()
[]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from dlstack.errors import PackageError
from dlstack.package._spec import SPEC_FILE, PackageSpec, read_spec
from dlstack.package._versions import version_numbers

__all__ = ["PACKAGE_NAME", "ModelRepository", "check_package_name"]

PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a folder name on every OS


def check_package_name(name: str) -> str:
    """``name`` if it can name a package folder, else a PackageError saying what can."""
    if not PACKAGE_NAME.match(name):
        raise PackageError(
            f"package name must match {PACKAGE_NAME.pattern} (letters, digits, _ . -), got {name!r}"
        )
    return name


class ModelRepository:
    """The packages under ``root`` (a project's ``.dlstack/models``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ModelRepository({str(self.root)!r})"

    def names(self) -> list[str]:
        """Model names that have at least one version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and PACKAGE_NAME.match(p.name) and version_numbers(p)
        )

    def versions(self, name: str) -> list[int]:
        return version_numbers(self.root / name)

    def only_name(self) -> str:
        """The model name when the repository holds exactly one model."""
        names = self.names()
        if len(names) != 1:
            raise PackageError(
                f"{len(names)} models in {self.root} ({', '.join(names) or 'none'}); "
                f"pick one with --model NAME"
            )
        return names[0]

    def version_dir(self, name: str, version: int | None = None) -> Path:
        """``root/name/version`` (the newest when None), checked to hold a model.json."""
        versions = self.versions(name)
        if not versions:
            raise PackageError(
                f"no model {name!r} in {self.root}; models there: "
                f"{', '.join(self.names()) or 'none'} (create one with `dlstack export`)"
            )
        chosen = versions[-1] if version is None else version
        path = self.root / name / str(chosen)
        if chosen not in versions or not (path / SPEC_FILE).is_file():
            raise PackageError(
                f"model {name!r} has no version {chosen} in {self.root / name}; versions "
                f"there: {', '.join(map(str, versions))}"
            )
        return path

    def specs(self) -> Iterator[tuple[Path, PackageSpec | None]]:
        """(version dir, its spec or None when unreadable) of every version, by name then
        version."""
        for name in self.names():
            for version in self.versions(name):
                path = self.root / name / str(version)
                try:
                    yield path, read_spec(path / SPEC_FILE)
                except PackageError:
                    yield path, None
