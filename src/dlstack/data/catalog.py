"""The catalog: examples, staged labels and immutable versions in a SQL database.

SQLAlchemy Core over sqlite (default) or PostgreSQL. Tables:

    meta(key, value)                          schema version, declared classes
    examples(id, width, height, mode, ...)    one row per stored object (id = sha256)
    staged(example_id, label, split)          the working set the next commit records
    versions(id, seq, parent, ...)            immutable, one row per commit
    version_rows(version_id, example_id, label, split)
    refs(name, version_id)                    HEAD, later tags

A commit inserts its version, its rows and moves HEAD in one transaction, so a commit
that fails half-way leaves no trace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, OperationalError

from dlstack.errors import DataError

__all__ = ["SCHEMA_VERSION", "Catalog"]

SCHEMA_VERSION = 1

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String, nullable=False),
)
examples = Table(
    "examples", metadata,
    Column("id", String(64), primary_key=True),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("source", String, nullable=False),
    Column("meta", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
staged = Table(
    "staged", metadata,
    Column("example_id", String(64), ForeignKey("examples.id"), primary_key=True),
    Column("label", String, nullable=False),
    Column("split", String(8), nullable=False),
)
versions = Table(
    "versions", metadata,
    Column("id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("parent", String(64), ForeignKey("versions.id"), nullable=True),
    Column("message", String, nullable=False),
    Column("author", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("n_examples", Integer, nullable=False),
    Column("classes", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
)
version_rows = Table(
    "version_rows", metadata,
    Column("version_id", String(64), ForeignKey("versions.id"), primary_key=True),
    Column("example_id", String(64), ForeignKey("examples.id"), primary_key=True),
    Column("label", String, nullable=False),
    Column("split", String(8), nullable=False),
)
refs = Table(
    "refs", metadata,
    Column("name", String, primary_key=True),
    Column("version_id", String(64), ForeignKey("versions.id"), nullable=False),
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Catalog:
    """A connection to the catalog database; creates the schema on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _engine(url)
        self._ensure_schema()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        with self.engine.begin() as conn:
            yield conn

    def connect(self) -> Connection:
        return self.engine.connect()

    def get_meta(self, conn: Connection, key: str) -> Any:
        value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return None if value is None else json.loads(value)

    def set_meta(self, conn: Connection, key: str, value: Any) -> None:
        conn.execute(meta.delete().where(meta.c.key == key))
        conn.execute(meta.insert().values(key=key, value=json.dumps(value)))

    def close(self) -> None:
        self.engine.dispose()

    def _ensure_schema(self) -> None:
        try:
            metadata.create_all(self.engine)
            with self.begin() as conn:
                found = self.get_meta(conn, "schema_version")
                if found is None:
                    self.set_meta(conn, "schema_version", SCHEMA_VERSION)
                elif found > SCHEMA_VERSION:
                    raise DataError(
                        f"the catalog at {_redact(self.url)} has schema version {found}, made by "
                        f"a newer dlstack; this one reads up to {SCHEMA_VERSION}. Upgrade dlstack "
                        f"(pip install -U dlstack)"
                    )
        except OperationalError as e:
            raise DataError(f"cannot open the catalog {_redact(self.url)}: {e.orig}; check "
                            f"data.catalog in dlstack.toml") from None


def _engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                import os

                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError) as e:
        raise DataError(
            f"data.catalog {_redact(url)!r} is not a usable database URL ({e}); use "
            f"'sqlite:///.dlstack/catalog.db' or 'postgresql+psycopg://user@host/db'"
        ) from None


def _redact(url: str) -> str:
    """Hide a password in a database URL before it goes into a message."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
