"""Where a model came from: its package's data version, run and code, traced in the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlstack.data._versions import DataRepo, Version
from dlstack.errors import DataError, PackageError

__all__ = ["Lineage", "lineage"]


@dataclass(frozen=True)
class Lineage:
    package: Path
    model: dict[str, Any]  # name, version, created, run_id, mlflow_run_id, code_version, ...
    data_version: Version | None  # None: the package names a version this catalog lacks
    derived_by: tuple[str, ...]  # data steps applied on top of the version ("+augment1")
    history: list[Version]  # the data version and its ancestors, newest first


def _model_json(package: Path) -> tuple[Path, dict[str, Any]]:
    from dlstack.package import SPEC_FILE, read_spec

    path = package / SPEC_FILE if package.is_dir() else package
    if not path.is_file():
        raise PackageError(
            f"{package} is not a model package (no {SPEC_FILE}); packages live "
            f"in .dlstack/models/<name>/<n>/"
        )
    return path.parent, read_spec(path).model_dump()


def lineage(repo: DataRepo, package: Path) -> Lineage:
    root, meta = _model_json(Path(package))
    data_version = str(meta.get("data_version") or "")
    base, *steps = data_version.split("+")
    version = None
    history: list[Version] = []
    if base:
        try:
            version = repo.resolve(base)
        except DataError:
            version = None
    v = version
    while v is not None:
        history.append(v)
        v = repo.resolve(v.parent) if v.parent else None
    keys = (
        "name",
        "version",
        "created",
        "run_id",
        "mlflow_run_id",
        "architecture",
        "code_version",
        "dlstack_version",
        "data_version",
        "metrics",
    )
    return Lineage(root, {k: meta.get(k) for k in keys}, version, tuple(steps), history)
