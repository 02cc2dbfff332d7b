"""The catalog: examples, staged labels and immutable versions in a SQL database.

SQLAlchemy Core over sqlite (default) or PostgreSQL. Tables:

    meta(key, value)                          schema version, declared classes
    examples(id, width, height, mode, ...)    one row per stored object (id = sha256)
    staged(example_id, label, split)          the working set the next commit records
    versions(id, seq, parent, ...)            immutable, one row per commit
    version_rows(version_id, example_id, label, split)
    refs(name, version_id)                    HEAD and tags ("tag:NAME")
    users(name, role, token_sha256, ...)      labeling accounts (schema 2)
    annotations(id, example_id, user, ...)    every label a person gave, with who and when
    gold(example_id, label, ...)              examples with known answers
    queue(example_id, source, priority, ...)  examples waiting for labels

Schema changes are numbered migrations (``MIGRATIONS``) applied in order when an older
catalog is opened; a catalog from a newer dlstack is refused. On PostgreSQL each project
lives in its own schema (namespace), so projects sharing a server never see each other's
rows.

A commit inserts its version, its rows and moves HEAD in one transaction, so a commit
that fails half-way leaves no trace.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
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


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String, nullable=False),
)
examples = Table(
    "examples",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("source", String, nullable=False),
    Column("meta", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
staged = Table(
    "staged",
    metadata,
    Column("example_id", String(64), ForeignKey("examples.id"), primary_key=True),
    Column("label", String, nullable=False),
    Column("split", String(8), nullable=False),
)
versions = Table(
    "versions",
    metadata,
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
    "version_rows",
    metadata,
    Column("version_id", String(64), ForeignKey("versions.id"), primary_key=True),
    Column("example_id", String(64), ForeignKey("examples.id"), primary_key=True),
    Column("label", String, nullable=False),
    Column("split", String(8), nullable=False),
)
refs = Table(
    "refs",
    metadata,
    Column("name", String, primary_key=True),
    Column("version_id", String(64), ForeignKey("versions.id"), nullable=False),
)


users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # labeler | reviewer | admin
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)
annotations = Table(
    "annotations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("example_id", String(64), ForeignKey("examples.id"), nullable=False, index=True),
    Column("user", String(64), ForeignKey("users.name"), nullable=False, index=True),
    Column("label", String, nullable=True),  # None: skipped
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("retracted_at", DateTime(timezone=True), nullable=True),  # undo keeps history
    Column("seconds", Float, nullable=True),  # time the person spent on it
)
gold = Table(
    "gold",
    metadata,
    Column("example_id", String(64), ForeignKey("examples.id"), primary_key=True),
    Column("label", String, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
queue = Table(
    "queue",
    metadata,
    Column("example_id", String(64), ForeignKey("examples.id"), primary_key=True),
    Column("source", String(32), nullable=False),  # ingest | feedback | manual
    Column("priority", Float, nullable=False, default=0.0),  # higher first (uncertainty)
    Column("labels_needed", Integer, nullable=False, default=1),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("meta", JSON, nullable=False, default=dict),
)

_V1_TABLES = (meta, examples, staged, versions, version_rows, refs)


def _migrate_to_2(conn: Connection) -> None:
    """Schema 2: labeling (users, annotations, gold, queue)."""
    for table in (users, annotations, gold, queue):
        table.create(conn, checkfirst=True)


# version -> step that upgrades the version before it. Append; never edit a released step.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _migrate_to_2}
SCHEMA_VERSION = max(MIGRATIONS)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front (BEGIN IMMEDIATE): two concurrent commits queue
    # up behind busy_timeout and land one after the other instead of failing half-way.
    write = conn.get_execution_options().get("dlstack_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Catalog:
    """A connection to the catalog database; creates the schema on first use."""

    def __init__(self, url: str, *, namespace: str | None = None) -> None:
        self.url = url
        self.engine: Engine = _engine(url, namespace)
        self._ensure_schema()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        with self.engine.execution_options(dlstack_write=True).begin() as conn:
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
            with self.begin() as conn:
                fresh = not _has_table(conn, "meta")
                if fresh:
                    metadata.create_all(conn)
                    self.set_meta(conn, "schema_version", SCHEMA_VERSION)
                    return
                found = self.get_meta(conn, "schema_version") or 1
                if found > SCHEMA_VERSION:
                    raise DataError(
                        f"the catalog at {_redact(self.url)} has schema version {found}, made by "
                        f"a newer dlstack; this one reads up to {SCHEMA_VERSION}. Upgrade dlstack "
                        f"(pip install -U dlstack)"
                    )
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    MIGRATIONS[version](conn)
                    self.set_meta(conn, "schema_version", version)
        except OperationalError as e:
            raise DataError(
                f"cannot open the catalog {_redact(self.url)}: {e.orig}; check "
                f"data.catalog in dlstack.toml"
            ) from None

    def schema_version(self) -> int:
        with self.connect() as conn:
            return int(self.get_meta(conn, "schema_version"))


def _has_table(conn: Connection, name: str) -> bool:
    from sqlalchemy import inspect

    schema = conn.get_execution_options().get("schema_translate_map", {}).get(None)
    return inspect(conn).has_table(name, schema=schema)


def create_v1_schema(url: str) -> None:
    """The schema of dlstack's first release (for migration tests)."""
    engine = _engine(url, None)
    with engine.begin() as conn:
        for table in _V1_TABLES:
            table.create(conn)
        conn.execute(meta.insert().values(key="schema_version", value="1"))
    engine.dispose()


def _engine(url: str, namespace: str | None) -> Engine:
    try:
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                import os

                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        engine = create_engine(url, pool_pre_ping=True)
        if namespace:
            # One PostgreSQL schema per project: shared servers never mix projects' rows.
            from sqlalchemy import text

            schema = "dlstack_" + "".join(c if c.isalnum() else "_" for c in namespace.lower())
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            engine = engine.execution_options(schema_translate_map={None: schema})
        return engine
    except OperationalError as e:
        raise DataError(
            f"cannot connect to the catalog {_redact(url)}: {e.orig}; check "
            f"data.catalog in dlstack.toml and that the server is running"
        ) from None
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
