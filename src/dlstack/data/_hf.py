"""Hugging Face ``datasets`` as a source: a ``save_to_disk`` folder (one dataset or a
DatasetDict of splits), a Parquet export, or ``hf:NAME`` from the hub when online.

Read with the ``datasets`` library (``pip install 'dlstack[hf]'``). An ``Image`` feature
makes an image dataset (its bytes are stored as they are); without one the rows are a
table. The target is ``[data] target`` (``label``) or the one ``ClassLabel`` feature,
whose names become the classes. A DatasetDict's splits ``train``, ``validation`` (or
``val``/``valid``) and ``test`` are kept as the examples' splits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlstack.errors import DataError
from dlstack.inputs import HF_PREFIX, is_hf_source

__all__ = ["HF_PREFIX", "is_hf_source", "read_hf"]

_SPLIT_NAMES = {"train": "train", "validation": "val", "val": "val", "valid": "val", "test": "test"}


def read_hf(source: str, target: str) -> tuple[list[tuple[str | None, Any]], str]:
    """(split name or None, Dataset) pairs, and the target column."""
    datasets = _library()
    try:
        if source.startswith(HF_PREFIX):
            loaded = datasets.load_dataset(source[len(HF_PREFIX) :])
        elif Path(source).expanduser().is_dir():
            loaded = datasets.load_from_disk(str(Path(source).expanduser()))
        else:
            loaded = datasets.Dataset.from_parquet(str(Path(source).expanduser()))
    except Exception as e:  # the library raises many kinds; all mean "cannot read it"
        hint = (
            "; this machine may be offline: save the dataset with save_to_disk where it is "
            "online and set data.source to that folder"
            if source.startswith(HF_PREFIX)
            else ""
        )
        raise DataError(f"cannot read the Hugging Face dataset {source!r}: {e}{hint}") from None
    parts: list[tuple[str | None, Any]]
    if isinstance(loaded, datasets.DatasetDict):
        parts = []
        for name, part in loaded.items():
            if name not in _SPLIT_NAMES:
                raise DataError(
                    f"{source} has a split {name!r}; dlstack keeps train, validation (or "
                    f"val, valid) and test. Rename or drop it with datasets first"
                )
            parts.append((_SPLIT_NAMES[name], part))
    else:
        parts = [(None, loaded)]
    features = parts[0][1].features
    if target not in features:
        labels = [k for k, f in features.items() if type(f).__name__ == "ClassLabel"]
        if len(labels) != 1:
            raise DataError(
                f"{source} has no column {target!r} and {len(labels)} ClassLabel features; "
                f"set [data] target to the column to learn (columns: {', '.join(features)})"
            )
        target = labels[0]
    return parts, target


def image_column(dataset: Any) -> str | None:
    """The one ``Image`` feature, if any."""
    names = [k for k, f in dataset.features.items() if type(f).__name__ == "Image"]
    if len(names) > 1:
        raise DataError(
            f"the dataset has {len(names)} image columns ({', '.join(names)}); several "
            f"inputs per example are not supported yet"
        )
    return names[0] if names else None


def label_name(dataset: Any, target: str, value: Any) -> str | None:
    """A target value as a class name (ClassLabel ints by their names)."""
    if value is None or (isinstance(value, int) and value < 0):  # -1: unlabeled in datasets
        return None
    feature = dataset.features[target]
    if type(feature).__name__ == "ClassLabel":
        return str(feature.int2str(int(value)))
    return str(value).strip() or None


def image_bytes(dataset: Any, column: str) -> list[bytes]:
    """Each row's encoded image, as stored (never decoded and re-encoded)."""
    import datasets

    raw = dataset.cast_column(column, datasets.Image(decode=False))
    out = []
    for cell in raw[column]:
        data = cell.get("bytes") if isinstance(cell, dict) else None
        if not data and isinstance(cell, dict) and cell.get("path"):
            try:
                data = Path(cell["path"]).read_bytes()
            except OSError:
                data = b""
        out.append(data or b"")
    return out


def _library() -> Any:
    try:
        import datasets
    except ModuleNotFoundError:
        raise DataError(
            "reading a Hugging Face dataset needs the datasets library: pip install 'dlstack[hf]'"
        ) from None
    return datasets
