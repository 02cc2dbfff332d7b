"""Reading rows of examples from a file: CSV (a header row), JSONL (an object a line) or
Parquet. Ingest reads manifests with it, `dlstack init` infers a table's columns with it,
`dlstack predict` reads rows for a table model with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dlstack.errors import DataError

__all__ = ["MANIFEST_SUFFIXES", "read_rows"]

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".parquet")


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
