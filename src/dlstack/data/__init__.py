"""Data core: content-addressed objects, a catalog of labeled examples, immutable versions,
and local snapshots that training reads fast."""

from dlstack.data.builtin import RawData, load_builtin
from dlstack.data.snapshot import Snapshot, SplitArrays
from dlstack.data.splits import SPLITS, assign_splits, stratified_subset
from dlstack.data.transforms import channel_stats, to_model_input

__all__ = [
    "SPLITS",
    "RawData",
    "Snapshot",
    "SplitArrays",
    "assign_splits",
    "channel_stats",
    "load_builtin",
    "stratified_subset",
    "to_model_input",
]
