"""Atomic files and typed, versioned JSON records: what every stage leaves on disk.

Every file dlstack writes appears whole or not at all: it is written under a temporary
name in the same directory and renamed (``os.replace`` is atomic on POSIX and Windows).
A stage's result (a run, a doctor report, an evaluation, ...) is a :class:`Record`: a
pydantic model with a ``kind`` and a ``schema_version``, written with
:func:`write_record` and read back, validated, with :func:`read_record`.

>>> class Note(Record):
...     KIND = "note"
...     text: str
>>> path = write_record("note.json", Note(text="hello"))
>>> read_record(path, Note).text
'hello'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from dlstack.errors import DataError

__all__ = [
    "Record",
    "RecordError",
    "atomic_dir",
    "atomic_path",
    "json_default",
    "read_record",
    "sha256_file",
    "write_atomic",
    "write_json",
    "write_record",
]

R = TypeVar("R", bound="Record")


class RecordError(DataError):
    """A record file exists but is damaged, of another kind, or of a newer schema."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file path beside ``path``; renamed to ``path`` when the block succeeds,
    removed when it fails. For writers that want a file name (np.save, Parquet, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A temporary directory beside ``path``, put in its place when the block succeeds
    (replacing what was there), removed when it fails: never a half-written directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return path


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's bytes, read 1 MiB at a time."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_default(o: Any) -> Any:
    """JSON for what numpy and pathlib hand around (scalars, arrays, paths)."""
    if hasattr(o, "tolist"):  # numpy arrays and scalars
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON, atomically."""
    return write_atomic(path, json.dumps(obj, indent=2, default=json_default) + "\n")


class Record(BaseModel):
    """A stage's result on disk. Subclasses set ``KIND`` (and ``SCHEMA`` when they change
    shape); unknown keys are kept, so a newer dlstack's extra fields survive a read."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    KIND: ClassVar[str] = "record"
    SCHEMA: ClassVar[int] = 1

    kind: str = ""
    schema_version: int = 0

    def model_post_init(self, context: Any) -> None:
        # Written records always say what they are, whoever built them.
        self.kind = self.kind or self.KIND
        self.schema_version = self.schema_version or self.SCHEMA


def write_record(path: str | Path, record: Record) -> Path:
    """``record`` as JSON at ``path``, atomically (non-finite floats become null)."""
    data = _finite(record.model_dump(mode="json"))
    return write_json(path, data)


def read_record(path: str | Path, model: type[R]) -> R:
    """Read and validate a record of ``model``'s kind; RecordError says what is wrong."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RecordError(f"{path} cannot be read as JSON ({e}); it is damaged") from None
    if not isinstance(raw, dict):
        raise RecordError(f"{path} holds {type(raw).__name__}, not a {model.KIND} record")
    kind = raw.get("kind", model.KIND)
    if kind != model.KIND:
        raise RecordError(f"{path} is a {kind!r} record, not {model.KIND!r}")
    schema = raw.get("schema_version", model.SCHEMA)
    if not isinstance(schema, int) or schema > model.SCHEMA:
        raise RecordError(
            f"{path} has schema {schema!r}; this dlstack reads {model.KIND} records up to "
            f"schema {model.SCHEMA}; upgrade dlstack"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in e.errors()[:5]
        )
        raise RecordError(f"{path} is not a valid {model.KIND} record: {where}") from None


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
