"""The models a server holds: several names, several versions each, one current per name.

A request that names no version gets the current one. Loading a version (admin) makes it
current and keeps the others loaded, so rolling back is loading the previous version
again: it is already in memory and becomes current at once. Unloading drains the
version's queue before its session is dropped. Packages are read with
:func:`dlstack.serve.load_package`: JSON and an ONNX graph, no code from the package runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dlstack.errors import CheckFailed, PackageError
from dlstack.inputs import VARIABLE_WIDTH
from dlstack.package import (
    PACKAGE_NAME,
    ModelPackage,
    ModelRepository,
    PackageSpec,
    is_version,
    load_package,
    select_version,
)
from dlstack.serve._batching import AdaptiveBatcher
from dlstack.serve._protocol import unknown_model
from dlstack.web import BadRequest, NotFound, Unprocessable

if TYPE_CHECKING:
    from dlstack.config import ServeConfig
    from dlstack.serve._monitoring import Metrics

__all__ = ["ModelRegistry", "ServedModel"]

# A line input (any width) is warmed up on lines this wide: ~8 characters at height 32.
_WARM_UP_WIDTH = 256


@dataclass(eq=False)
class ServedModel:
    package: ModelPackage
    batcher: AdaptiveBatcher

    @property
    def spec(self) -> PackageSpec:
        return self.package.spec

    @property
    def name(self) -> str:
        return self.package.spec.name

    @property
    def version(self) -> int:
        return self.package.spec.version


class ModelRegistry:
    """Loaded model versions and the current version of each name."""

    def __init__(self, config: ServeConfig, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self._models: dict[str, dict[int, ServedModel]] = {}
        self._current: dict[str, int] = {}
        self._search: list[Path] = []  # folders holding <name>/<n>/ package folders
        self._started = False
        self._lock = asyncio.Lock()

    # -- reading --------------------------------------------------------------------------

    def available(self) -> dict[str, list[int]]:
        return {name: sorted(versions) for name, versions in sorted(self._models.items())}

    def current(self, name: str) -> int:
        return self._current[name]

    def all(self) -> list[ServedModel]:
        return [m for versions in self._models.values() for m in versions.values()]

    def get(self, name: str, version: str | None = None) -> ServedModel:
        versions = self._models.get(name)
        if not versions:
            raise unknown_model(name, None, self.available())
        if version is None:
            return versions[self._current[name]]
        if not is_version(version) or int(version) not in versions:
            raise unknown_model(name, version, self.available())
        return versions[int(version)]

    def only(self) -> str:
        """The model name when exactly one is loaded (for requests that name none)."""
        names = list(self._models)
        if len(names) != 1:
            raise BadRequest(
                f"{len(names)} models are loaded ({', '.join(names) or 'none'}); "
                f"name one with ?model=NAME"
            )
        return names[0]

    # -- changing -------------------------------------------------------------------------

    def add(self, package: ModelPackage, *, current: bool = True, warm: bool = True) -> ServedModel:
        """Serve a loaded package (its batcher starts with start(), or now if started)."""
        spec = package.spec
        existing = self._models.get(spec.name, {}).get(spec.version)
        if existing is not None:
            if current:
                self._current[spec.name] = spec.version
            return existing
        cfg = self.config
        batching = cfg.batching
        if warm:
            self.warm_up(package)
        batcher = AdaptiveBatcher(
            package.logits,
            name=f"{spec.name}/{spec.version}",
            max_batch_size=cfg.max_batch_size if batching else 1,
            max_queue_delay_ms=cfg.max_queue_delay_ms if batching else 0.0,
            latency_slo_ms=cfg.latency_slo_ms,
            max_queue_size=cfg.max_queue_size,
            adaptive=batching,
            observer=self.metrics.observer(spec.name, spec.version) if self.metrics else None,
        )
        served = ServedModel(package, batcher)
        self._models.setdefault(spec.name, {})[spec.version] = served
        if current or spec.name not in self._current:
            self._current[spec.name] = spec.version
        name_dir = package.path.parent
        if name_dir.parent not in self._search:
            self._search.append(name_dir.parent)
        if self._started:
            batcher.start()
        return served

    def warm_up(self, package: ModelPackage) -> None:
        """Run the model once at each batch size it will see first: onnxruntime's first
        calls allocate memory and threads, and are not what a request should wait for."""
        sizes = sorted({1, self.config.max_batch_size if self.config.batching else 1})
        for n in sizes:
            package.predict_arrays(
                {
                    i.name: np.zeros(
                        (n, *(_WARM_UP_WIDTH if d == VARIABLE_WIDTH else d for d in i.shape[1:])),
                        np.float32,
                    )
                    for i in package.spec.inputs
                }
            )

    def add_search_path(self, models_dir: Path) -> None:
        if models_dir not in self._search:
            self._search.append(models_dir)

    def start(self) -> None:
        self._started = True
        for served in self.all():
            served.batcher.start()

    async def load(self, name: str, version: int | None = None) -> ServedModel:
        """Load ``name`` (``version``, or the newest on disk that passed its release gate:
        :func:`dlstack.package.select_version`) and make it current."""
        if not PACKAGE_NAME.match(name):
            raise BadRequest(f"model name {name!r} must match {PACKAGE_NAME.pattern}")
        async with self._lock:
            if version is not None and version in self._models.get(name, {}):
                self._current[name] = version
                return self._models[name][version]
            path = self._find(name, version)
            package = await asyncio.to_thread(
                load_package, path, intra_op_threads=self.config.intra_op_threads, spin=False
            )
            if package.spec.name != name:
                raise PackageError(
                    f"{path} holds model {package.spec.name!r}, not {name!r}; its model.json "
                    f"and its folder disagree, export it again"
                )
            await asyncio.to_thread(self.warm_up, package)
            return self.add(package, current=True, warm=False)

    async def unload(self, name: str, version: int | None = None) -> list[int]:
        """Stop serving one version (or all of ``name``), after its queue drains."""
        async with self._lock:
            versions = self._models.get(name)
            if not versions or (version is not None and version not in versions):
                raise unknown_model(
                    name, None if version is None else str(version), self.available()
                )
            gone = sorted(versions) if version is None else [version]
            for v in gone:
                served = versions.pop(v)
                await served.batcher.close(drain=True)
                if self.metrics is not None:
                    self.metrics.forget(name, v)
            if not versions:
                del self._models[name]
                del self._current[name]
            elif self._current[name] in gone:
                self._current[name] = max(versions)
            return gone

    async def close(self) -> None:
        for served in self.all():
            await served.batcher.close(drain=False)
        self._models.clear()
        self._current.clear()

    def _find(self, name: str, version: int | None) -> Path:
        for root in self._search:
            repo = ModelRepository(root)
            if not repo.versions(name):
                continue
            try:
                if version is None:
                    return select_version(root / name).path
                return repo.version_dir(name, version)
            except CheckFailed as e:  # versions were judged and none passed
                raise Unprocessable(str(e)) from None
            except PackageError as e:
                raise NotFound(str(e)) from None
        where = ", ".join(str(p) for p in self._search) or "no models folder"
        raise NotFound(f"no model {name!r} in {where}; export it with `dlstack export` first")
