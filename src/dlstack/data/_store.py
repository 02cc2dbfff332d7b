"""Content-addressed object store on any fsspec filesystem (local directory, s3://...).

An object's key is the sha256 of its bytes, so storing the same bytes twice stores them
once, and a reader can verify what it got. Layout: ``<root>/<key[:2]>/<key>``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import fsspec

from dlstack.errors import DataError
from dlstack.records import write_atomic

__all__ = ["ObjectStore", "sha256"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ObjectStore:
    """Put and get immutable blobs by their sha256.

    >>> import tempfile
    >>> store = ObjectStore(tempfile.mkdtemp())
    >>> key = store.put(b"hello")
    >>> store.get(key)
    b'hello'
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url, **storage_options)
        except ImportError as e:
            raise DataError(
                f"data.store {url!r} needs an extra package ({e}); for S3 run "
                f"pip install 'dlstack[s3]'"
            ) from None
        self._local = "file" in _protocols(self.fs)

    def _path(self, key: str) -> str:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise DataError(f"object key must be 64 lowercase hex characters (sha256), got {key!r}")
        return f"{self.root.rstrip('/')}/{key[:2]}/{key}"

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and return its key. An object already there is kept when its
        bytes still hash to its key (locally: checked), and replaced when they do not, so
        re-ingesting repairs a damaged object."""
        key = sha256(data)
        path = self._path(key)
        if self.fs.exists(path) and (not self._local or self._intact(key, path)):
            return key
        if self._local:
            write_atomic(path, data)  # a crash never leaves a truncated object under its key
        else:
            self.fs.pipe_file(path, data)  # an S3 PUT is atomic
        return key

    def put_many(self, blobs: list[bytes]) -> list[str]:
        """Store many blobs; remote stores write them concurrently (one round of requests)."""
        keys = [sha256(b) for b in blobs]
        if self._local:
            for b in blobs:
                self.put(b)
            return keys
        present = self._present(keys)
        todo = {self._path(k): b for k, b in zip(keys, blobs, strict=True) if k not in present}
        if todo:
            self.fs.pipe(todo)
        return keys

    def get_many(self, keys: list[str], *, verify: bool = True) -> list[bytes]:
        """Fetch many objects; remote stores read them concurrently."""
        if self._local:
            return [self.get(k, verify=verify) for k in keys]
        paths = [self._path(k) for k in keys]
        found = self.fs.cat(paths, on_error="return")
        out = []
        for key, path in zip(keys, paths, strict=True):
            data = found.get(path)
            if not isinstance(data, bytes):
                self.get(key)  # raises the missing-object error with its fix
            out.append(self._verified(key, data) if verify else data)
        return out

    def _present(self, keys: list[str]) -> set[str]:
        """Which keys exist, by listing the prefixes involved instead of one request per key."""
        prefixes = {k[:2] for k in keys}
        present: set[str] = set()
        if len(prefixes) > 16:
            # Many prefixes: one paginated listing of the store beats a request per prefix.
            if self.fs.exists(self.root):
                present.update(p.rsplit("/", 1)[-1] for p in self.fs.find(self.root))
            return present
        for prefix in prefixes:
            try:
                names = self.fs.ls(f"{self.root.rstrip('/')}/{prefix}", detail=False)
            except FileNotFoundError:
                continue
            present.update(n.rsplit("/", 1)[-1] for n in names)
        return present

    def _verified(self, key: str, data: bytes) -> bytes:
        if sha256(data) != key:
            raise DataError(
                f"object {key[:12]} in {self.url} is corrupt (its bytes no longer hash to its "
                f"key); restore it from a backup or re-ingest the data"
            )
        return data

    def get(self, key: str, *, verify: bool = True) -> bytes:
        path = self._path(key)
        try:
            data: bytes = self.fs.cat_file(path)
        except FileNotFoundError:
            raise DataError(
                f"object {key[:12]} is missing from the store {self.url}; the store was "
                f"changed outside dlstack — restore it from a backup or re-ingest the data"
            ) from None
        return self._verified(key, data) if verify else data

    def _intact(self, key: str, path: str) -> bool:
        try:
            return sha256(self.fs.cat_file(path)) == key
        except OSError:
            return False

    def keys(self) -> list[str]:
        """Every stored object's key (walks the store)."""
        if not self.fs.exists(self.root):
            return []
        return sorted(n for p in self.fs.find(self.root) if _is_key(n := p.rsplit("/", 1)[-1]))

    def verify(self, *, repair: bool = False) -> tuple[int, list[str]]:
        """(objects checked, keys whose bytes no longer hash to them). With ``repair`` the
        damaged objects are removed: ingesting the same data again stores them anew, and a
        checkout names what is missing instead of failing on what is wrong."""
        damaged = []
        keys = self.keys()
        for key in keys:
            path = self._path(key)
            if not self._intact(key, path):
                damaged.append(key)
                if repair:
                    self.fs.rm_file(path)
        return len(keys), damaged

    def count(self) -> int:
        """Number of stored objects (walks the store: for tests and reports, not hot paths)."""
        if not self.fs.exists(self.root):
            return 0
        # Objects are named by their sha256; anything else (a temp file) is not one.
        return sum(1 for p in self.fs.find(self.root) if _is_key(p.rsplit("/", 1)[-1]))


def _is_key(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _protocols(fs: Any) -> set[str]:
    proto = fs.protocol
    return {proto} if isinstance(proto, str) else set(proto)
