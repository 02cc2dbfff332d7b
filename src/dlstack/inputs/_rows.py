"""Reading rows of examples from a file: CSV (a header row), JSONL (an object a line) or
Parquet. Ingest reads manifests with it, `dlstack init` infers a table's columns with it,
`dlstack predict` reads rows for a table model with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dlstack.errors import DataError

__all__ = ["HF_PREFIX", "MANIFEST_SUFFIXES", "is_hf_source", "read_rows"]

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".parquet")
HF_PREFIX = "hf:"  # a Hugging Face hub dataset name (read by dlstack.data._hf)


def is_hf_source(source: str) -> bool:
    """``hf:NAME``, a ``save_to_disk`` folder, or a Parquet file a ``datasets`` export wrote."""
    if source.startswith(HF_PREFIX):
        return True
    path = Path(source).expanduser()
    if path.is_dir():
        return (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()
    if path.is_file() and path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.read_schema(path).metadata or {}
        except (OSError, ValueError):
            return False
        return b"huggingface" in meta
    return False


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV (header row), JSONL (one object a line) or Parquet manifest."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return list(pq.read_table(path).to_pylist())
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"cannot read manifest {path}: {e}") from None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read manifest {path}: {e}") from None
    if suffix == ".csv":
        import csv

        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            raise DataError(
                f"manifest {path} needs a header row: a 'path' column and label, split, "
                f"metadata... for images, or the feature columns and the target for a table"
            )
        return [dict(r) for r in reader]
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"manifest {path} line {n} is not JSON ({e.msg}); each line must "
                f'be an object like {{"path": "a.png", "label": "3"}}'
            ) from None
        if not isinstance(row, dict):
            raise DataError(
                f"manifest {path} line {n} must be a JSON object, got {type(row).__name__}"
            )
        rows.append(row)
    return rows
