"""Secrets of dlstack's web apps: random tokens, their hashes, the header that carries
them, and ordered roles.

Both apps store only a token's sha256, so a copied config or catalog gives no one a
login; a token is shown once, when it is made. A client sends it as
``Authorization: Bearer <token>`` (what KServe/Triton clients and browsers' fetch pass)
or ``X-API-Key: <token>``.

>>> token = new_token("dlsl_")
>>> token.startswith("dlsl_"), len(token)
(True, 48)
>>> match_token(token, [(hash_token("a guess"), "eve"), (hash_token(token), "ada")])
'ada'
>>> Roles("labeler", "reviewer", "admin").may("admin", "reviewer")  # admin may review
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import TypeVar

__all__ = ["TOKEN_BYTES", "Roles", "hash_token", "match_token", "new_token", "token_from_headers"]

TOKEN_BYTES = 32  # 256 bits from the OS CSPRNG; URL-safe base64 makes 43 characters of it

T = TypeVar("T")


def new_token(prefix: str = "") -> str:
    """A fresh random token; ``prefix`` makes it recognisable in a paste or a log."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The sha256 of ``token`` as hex: what is stored instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """The token of a request: ``Authorization: Bearer <t>``, else ``X-API-Key: <t>``.

    ``headers`` is Starlette's (case-insensitive) or a dict with lower-case names; any
    other authorization scheme, or an empty value, is no token.
    """
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def match_token(token: str | None, known: Iterable[tuple[str, T]]) -> T | None:
    """What ``token`` belongs to among ``known`` (sha256 hex, owner) pairs, or None.

    Every entry is compared, each in constant time, so the response time says nothing
    about which entry, or how much of a digest, a guess matched.
    """
    if token is None:
        return None
    digest = hash_token(token)
    found = None
    for known_digest, owner in known:
        if hmac.compare_digest(known_digest, digest):
            found = owner
    return found


class Roles(tuple[str, ...]):
    """Role names in increasing power: each role may do what the ones before it may.

    >>> ROLES = Roles("predict", "admin")
    >>> ROLES.may("predict", "admin"), "admin" in ROLES
    (False, True)
    """

    __slots__ = ()

    def __new__(cls, *names: str) -> Roles:
        if not names or len(set(names)) != len(names):
            raise ValueError(f"roles must be distinct names, weakest first; got {names!r}")
        return super().__new__(cls, names)

    def __getnewargs__(self) -> tuple[str, ...]:
        return tuple(self)  # copy and pickle call Roles(*names), not Roles(names)

    def may(self, have: str, need: str) -> bool:
        """Whether role ``have`` may act as role ``need`` (it is ``need`` or stronger)."""
        return self._rank(have) >= self._rank(need)

    def _rank(self, role: str) -> int:
        if role not in self:
            raise ValueError(f"role {role!r} is not one of {', '.join(self)}")
        return self.index(role)
