"""Data core: content-addressed objects, a catalog of labeled examples, immutable versions,
and local snapshots that training reads fast.

Names resolve lazily (PEP 562): ``import dlstack.data`` pulls in neither SQLAlchemy nor
fsspec until a name that needs them is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack._lazy import lazy_attribute

if TYPE_CHECKING:
    from dlstack.data._builtin import RawData, load_builtin
    from dlstack.data._catalog import Catalog
    from dlstack.data._ingest import IngestReport
    from dlstack.data._labeling_app import create_labeling_app, serve_labeling
    from dlstack.data._lake import Lake
    from dlstack.data._lineage import Lineage, lineage
    from dlstack.data._snapshot import Snapshot, SnapshotDamaged, SplitArrays
    from dlstack.data._splits import SPLITS, assign_splits, stratified_subset
    from dlstack.data._status import DataStatus, data_status
    from dlstack.data._store import ObjectStore
    from dlstack.data._versions import DataRepo, Integrity, Version, snapshot_for
    from dlstack.inputs import read_rows

_HOME = {
    "SPLITS": "_splits",
    "Catalog": "_catalog",
    "DataRepo": "_versions",
    "DataStatus": "_status",
    "data_status": "_status",
    "Integrity": "_versions",
    "IngestReport": "_ingest",
    "Lake": "_lake",
    "Lineage": "_lineage",
    "ObjectStore": "_store",
    "RawData": "_builtin",
    "Snapshot": "_snapshot",
    "SnapshotDamaged": "_snapshot",
    "SplitArrays": "_snapshot",
    "Version": "_versions",
    "snapshot_for": "_versions",
    "assign_splits": "_splits",
    "create_labeling_app": "_labeling_app",
    "lineage": "_lineage",
    "load_builtin": "_builtin",
    "read_rows": "dlstack.inputs",
    "serve_labeling": "_labeling_app",
    "stratified_subset": "_splits",
}

__all__ = [
    "SPLITS",
    "Catalog",
    "DataRepo",
    "DataStatus",
    "IngestReport",
    "Integrity",
    "Lake",
    "Lineage",
    "ObjectStore",
    "RawData",
    "Snapshot",
    "SnapshotDamaged",
    "SplitArrays",
    "Version",
    "assign_splits",
    "create_labeling_app",
    "data_status",
    "lineage",
    "load_builtin",
    "read_rows",
    "serve_labeling",
    "snapshot_for",
    "stratified_subset",
]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOME, name)


def __dir__() -> list[str]:
    return sorted(__all__)
