"""Data core: content-addressed objects, a catalog of labeled examples, immutable versions,
and local snapshots that training reads fast.

Names resolve lazily (PEP 562) so that torch-free, database-free code such as serving can
import ``dlstack.data.transforms`` without pulling in SQLAlchemy or fsspec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack._lazy import lazy_attribute

if TYPE_CHECKING:
    from dlstack.data.builtin import RawData, load_builtin
    from dlstack.data.catalog import Catalog
    from dlstack.data.ingest import IngestReport
    from dlstack.data.snapshot import Snapshot, SplitArrays
    from dlstack.data.splits import SPLITS, assign_splits, stratified_subset
    from dlstack.data.store import ObjectStore
    from dlstack.data.transforms import channel_stats, to_model_input
    from dlstack.data.versions import DataRepo, Version

_WHERE = {
    "RawData": "builtin",
    "load_builtin": "builtin",
    "Catalog": "catalog",
    "IngestReport": "ingest",
    "Snapshot": "snapshot",
    "SplitArrays": "snapshot",
    "SPLITS": "splits",
    "assign_splits": "splits",
    "stratified_subset": "splits",
    "ObjectStore": "store",
    "channel_stats": "transforms",
    "to_model_input": "transforms",
    "DataRepo": "versions",
    "Version": "versions",
}

__all__ = [
    "SPLITS",
    "Catalog",
    "DataRepo",
    "IngestReport",
    "ObjectStore",
    "RawData",
    "Snapshot",
    "SplitArrays",
    "Version",
    "assign_splits",
    "channel_stats",
    "load_builtin",
    "stratified_subset",
    "to_model_input",
]
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _WHERE, name)
