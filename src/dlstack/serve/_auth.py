"""API keys with roles: ``predict`` may predict, ``admin`` may also load and unload models.

Keys are configured in ``[[serve.api_keys]]`` by their sha256 or by the environment
variable that holds them; the key itself is never written in dlstack.toml. A client sends
its key as ``Authorization: Bearer <key>`` (what KServe/Triton clients pass as a header) or
``X-API-Key: <key>``. Admin endpoints always need an admin key; predict endpoints need a
predict (or admin) key only when ``predict_requires_key`` is true.

>>> key, digest = new_key()
>>> ring = KeyRing({digest: Key("ops", "admin")})
>>> ring.require(key, "predict").name       # admin may predict
'ops'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from dlstack.errors import ConfigError
from dlstack.web import Forbidden, Roles, Unauthorized, hash_token, match_token, new_token

if TYPE_CHECKING:
    from dlstack.config import ServeConfig

__all__ = ["ROLES", "Key", "KeyRing", "new_key"]

Role = Literal["predict", "admin"]
ROLES = Roles("predict", "admin")  # in increasing power


@dataclass(frozen=True)
class Key:
    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return ROLES.may(self.role, role)


def new_key() -> tuple[str, str]:
    """A fresh random key and its sha256 (what goes into dlstack.toml)."""
    key = new_token()
    return key, hash_token(key)


class KeyRing:
    """The configured keys, by sha256; looks a presented key up in constant time."""

    def __init__(self, keys: Mapping[str, Key], *, predict_requires_key: bool = False) -> None:
        self._keys = dict(keys)
        self.predict_requires_key = predict_requires_key

    @classmethod
    def from_config(cls, config: ServeConfig, environ: Mapping[str, str] | None = None) -> KeyRing:
        env = os.environ if environ is None else environ
        keys: dict[str, Key] = {}
        for entry in config.api_keys:
            if entry.env is not None:
                value = env.get(entry.env, "")
                if not value:
                    raise ConfigError(
                        f"serve.api_keys {entry.name!r} reads its key from ${entry.env}, "
                        f"which is not set; export it before `dlstack serve`"
                    )
                digest = hash_token(value)
            else:
                digest = str(entry.sha256)
            keys[digest] = Key(entry.name, entry.role)
        if config.predict_requires_key and not keys:
            raise ConfigError(
                "serve.predict_requires_key is true but serve.api_keys is empty, so nobody "
                "could predict; add a key (`dlstack serve --new-key predict` makes one)"
            )
        return cls(keys, predict_requires_key=config.predict_requires_key)

    def identify(self, key: str | None) -> Key | None:
        return match_token(key, self._keys.items())

    def require(self, key: str | None, role: Role, *, always: bool = False) -> Key | None:
        """The caller's key if it may act as ``role``; None when no key is needed (a
        predict call while ``predict_requires_key`` is false, unless ``always``)."""
        if role == "predict" and not self.predict_requires_key and not always:
            return self.identify(key)
        if key is None:
            how = (
                "send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                if self._keys
                else f"no key is configured: add {'an' if role == 'admin' else 'a'} {role} key "
                f"to [[serve.api_keys]] (`dlstack serve --new-key {role}`)"
            )
            article = "an" if role == "admin" else "a"
            raise Unauthorized(f"this endpoint needs {article} {role} API key; {how}")
        who = self.identify(key)
        if who is None:
            raise Unauthorized("the API key is not one of this server's keys")
        if not who.may(role):
            raise Forbidden(f"API key {who.name!r} has role {who.role!r}; this needs {role!r}")
        return who
