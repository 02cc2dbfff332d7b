"""Labeling accounts: a name, a role and a bearer token.

Roles are ordered; each can do what the ones before it can:

    labeler   label, skip and undo their own answers
    reviewer  + decide examples the labelers disagree on
    admin     + users, gold examples, progress/agreement/baseline stats

Only the sha256 of a token is stored (dlstack.web makes, hashes and looks tokens up, as
for the prediction server's keys), so a copied catalog gives no one a login, and a token
is shown once, when it is made. Accounts live in the project's own catalog: a token
of one project means nothing to another project's server.

>>> user, token = create_user(catalog, "ada", role="labeler")   # doctest: +SKIP
>>> authenticate(catalog, token).name                          # doctest: +SKIP
'ada'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from dlstack.data._catalog import Catalog, users
from dlstack.data.labeling._common import NotFound, as_utc, utcnow
from dlstack.errors import DataError
from dlstack.web import Roles, hash_token, match_token, new_token

__all__ = [
    "ROLES",
    "User",
    "authenticate",
    "create_user",
    "disable_user",
    "list_users",
    "rotate_token",
]

ROLES = Roles("labeler", "reviewer", "admin")
TOKEN_PREFIX = "dlsl_"  # recognisable in a paste, a log or a secret scanner
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: datetime
    disabled: bool

    def can(self, role: str) -> bool:
        """Whether this account has ``role`` or a higher one."""
        return ROLES.may(self.role, role)


def create_user(catalog: Catalog, name: str, role: str = "labeler") -> tuple[User, str]:
    """Make an account; returns it and its token (shown once, never stored)."""
    _check_name(name)
    _check_role(role)
    token = new_token(TOKEN_PREFIX)
    now = utcnow()
    with catalog.begin() as conn:
        if conn.execute(select(users.c.name).where(users.c.name == name)).first():
            raise DataError(
                f"user {name!r} already exists; pick another name, or issue a "
                f"new token with `dlstack label user token {name}`"
            )
        conn.execute(
            users.insert().values(
                name=name, role=role, token_sha256=hash_token(token), created_at=now, disabled=False
            )
        )
    return User(name, role, now, False), token


def list_users(catalog: Catalog) -> list[User]:
    with catalog.connect() as conn:
        return [_user(r) for r in conn.execute(users.select().order_by(users.c.name))]


def disable_user(catalog: Catalog, name: str, *, disabled: bool = True) -> User:
    """Lock an account out (its answers stay); ``disabled=False`` lets it back in."""
    with catalog.begin() as conn:
        row = _get(conn, name)
        conn.execute(users.update().where(users.c.name == name).values(disabled=disabled))
    return User(row.name, row.role, as_utc(row.created_at), disabled)


def rotate_token(catalog: Catalog, name: str) -> str:
    """Replace an account's token (the old one stops working); returns the new one."""
    token = new_token(TOKEN_PREFIX)
    with catalog.begin() as conn:
        _get(conn, name)
        conn.execute(
            users.update().where(users.c.name == name).values(token_sha256=hash_token(token))
        )
    return token


def authenticate(catalog: Catalog, token: str) -> User | None:
    """The account a token belongs to (disabled ones included: the caller refuses them),
    or None. Compares digests in constant time against every account, so response time
    says nothing about how close a guess was."""
    with catalog.connect() as conn:
        rows = conn.execute(users.select()).all()
    found = match_token(token, ((row.token_sha256, row) for row in rows))
    return _user(found) if found is not None else None


def ensure_users(conn: Connection, names: Iterable[str]) -> list[str]:
    """Create labeler accounts for names that have none (imported annotators). They get an
    unknown random token: an admin issues a real one with `dlstack label user token`."""
    created = []
    existing = set(conn.execute(select(users.c.name)).scalars())
    for name in dict.fromkeys(names):
        if name in existing:
            continue
        _check_name(name)
        conn.execute(
            users.insert().values(
                name=name,
                role="labeler",
                token_sha256=hash_token(new_token(TOKEN_PREFIX)),
                created_at=utcnow(),
                disabled=False,
            )
        )
        created.append(name)
    return created


def _get(conn: Connection, name: str) -> Any:
    row = conn.execute(users.select().where(users.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user {name!r}; `dlstack label user list` shows the accounts")
    return row


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise DataError(
            f"user name {name!r} is not allowed; use up to 64 letters, digits and "
            f"'_.@+-', starting with a letter or digit"
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise DataError(f"role {role!r} is not one of {', '.join(ROLES)}")


def _user(row: Any) -> User:
    return User(row.name, row.role, as_utc(row.created_at), bool(row.disabled))
