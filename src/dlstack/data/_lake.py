"""The data lake: what the catalog does not hold (prediction logs, labeling activity,
ingest reports) as Parquet datasets partitioned by date, on the same kind of storage as
the object store. ``query`` runs DuckDB SQL over the lake and the catalog together.

    <lake>/<dataset>/date=YYYY-MM-DD/part-<uuid>.parquet

DuckDB reads Arrow tables that we load through fsspec and SQLAlchemy, so neither S3 nor
PostgreSQL needs a DuckDB extension (which would be downloaded at run time).
"""

from __future__ import annotations

import re
import uuid
import warnings
from datetime import UTC, datetime
from typing import Any

import fsspec

from dlstack.errors import DataError, DlstackWarning
from dlstack.records import atomic_path

__all__ = ["CATALOG_TABLES", "Lake"]

CATALOG_TABLES = (
    "examples",
    "staged",
    "versions",
    "version_rows",
    "refs",
    "annotations",
    "gold",
    "queue",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Lake:
    """Append-only Parquet datasets under one root (a directory or an s3:// prefix)."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url, **storage_options)
        self._local = "file" in (
            {self.fs.protocol} if isinstance(self.fs.protocol, str) else set(self.fs.protocol)
        )

    def append(
        self, dataset: str, records: list[dict[str, Any]], *, when: datetime | None = None
    ) -> str | None:
        """Write records as one new Parquet file in today's partition; returns its path."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not _NAME.match(dataset):
            raise DataError(
                f"lake dataset name {dataset!r} must be lowercase letters, digits "
                f"and '_', starting with a letter"
            )
        if not records:
            return None
        when = when or datetime.now(UTC)
        table = pa.Table.from_pylist(records)
        folder = f"{self.root.rstrip('/')}/{dataset}/date={when:%Y-%m-%d}"
        path = f"{folder}/part-{when:%H%M%S}-{uuid.uuid4().hex[:12]}.parquet"
        if self._local:
            with atomic_path(path) as tmp:  # a dot file until complete: readers skip it
                pq.write_table(table, tmp)
        else:
            with self.fs.open(path, "wb") as f:  # an S3 PUT appears whole or not at all
                pq.write_table(table, f)
        return path

    def datasets(self) -> list[str]:
        if not self.fs.exists(self.root):
            return []
        return sorted(
            p.rstrip("/").rsplit("/", 1)[-1]
            for p in self.fs.ls(self.root, detail=False)
            if self.fs.isdir(p)
        )

    def read(self, dataset: str) -> Any:
        """A dataset as one Arrow table, with its ``date`` partition column."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        base = f"{self.root.rstrip('/')}/{dataset}"
        if not self.fs.exists(base):
            raise DataError(
                f"the lake has no dataset {dataset!r}; it has: "
                f"{', '.join(self.datasets()) or 'none yet'}"
            )
        files = [
            p
            for p in self.fs.find(base)
            if p.endswith(".parquet") and not p.rsplit("/", 1)[-1].startswith(".")
        ]
        # One file at a time, then unify schemas: a column that is all-null in one file
        # (type null) and typed in another must not break reading the dataset.
        tables = []
        for path in sorted(files):
            try:
                table = ds.dataset(path, filesystem=self.fs, format="parquet").to_table()
            except (OSError, pa.ArrowException) as e:
                # One damaged file must not hide the rest of the dataset from queries,
                # `dlstack monitor` and the score; it is named so it can be removed.
                warnings.warn(
                    f"skipped damaged lake file {path} ({str(e).splitlines()[0][:200]}); "
                    f"delete it if it cannot be restored",
                    DlstackWarning,
                    stacklevel=2,
                )
                continue
            date = path.split("/date=", 1)[1].split("/", 1)[0] if "/date=" in path else None
            tables.append(table.append_column("date", pa.array([date] * table.num_rows)))
        if not tables:
            raise DataError(f"every file of lake dataset {dataset!r} under {base} is damaged")
        return pa.concat_tables(tables, promote_options="permissive")


def query(
    sql: str, *, lake: Lake | None = None, catalog: Any = None, allow_files: bool = False
) -> Any:
    """Run DuckDB SQL over lake datasets and catalog tables named in it; returns Arrow.

    The datasets and tables are handed to DuckDB in memory; by default DuckDB may touch no
    file and no network (no ``COPY ... TO``, ``read_csv('/etc/...')``, ``ATTACH``,
    ``INSTALL``/``LOAD``): ``allow_files`` lifts that for a user who means it.
    """
    import duckdb

    if not sql.strip():
        raise DataError('the query is empty; write SQL, e.g. "SELECT * FROM versions"')
    con = duckdb.connect(
        config={
            "enable_external_access": allow_files,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    words = set(re.findall(r"[a-z_][a-z0-9_]*", sql.lower()))
    if lake is not None:
        for name in lake.datasets():
            if name in words:
                con.register(name, lake.read(name))
    if catalog is not None:
        from sqlalchemy import select

        from dlstack.data import _catalog as cat

        with catalog.connect() as conn:
            for name in CATALOG_TABLES:
                if name in words:
                    table = getattr(cat, name)
                    rows = [dict(r._mapping) for r in conn.execute(select(table))]
                    con.register(name, _arrow(rows, [c.name for c in table.columns]))
    try:
        result = con.sql(sql)
        if result is None:
            raise DataError("the query returned no table; `dlstack data query` runs a SELECT")
        return result.to_arrow_table()
    except duckdb.PermissionException as e:
        raise DataError(
            f"query refused: {str(e).splitlines()[0]}; dlstack data query reads the lake and "
            f"the catalog only (pass --allow-files to let it read and write files)"
        ) from None
    except duckdb.Error as e:
        raise DataError(
            f"query failed: {str(e).splitlines()[0]}; tables here: "
            f"{', '.join(sorted(set(CATALOG_TABLES) | set(lake.datasets() if lake else [])))}"
        ) from None
    finally:
        con.close()


def _arrow(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    import json

    import pyarrow as pa

    if not rows:
        return pa.table({c: pa.array([], type=pa.string()) for c in columns})
    # JSON columns (metadata, counts) become JSON text; DuckDB's json functions read them.
    fixed = [
        {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in r.items()} for r in rows
    ]
    return pa.Table.from_pylist(fixed)
