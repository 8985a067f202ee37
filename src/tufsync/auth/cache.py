"""The sign-in caches of one API process: verified JWTs, accounts, API tokens.

What each cache holds and what invalidates it:

- :class:`VerifiedTokens`: login JWTs whose HS256 signature and claims were
  verified, keyed by the whole token string, with their expiry. A token is
  immutable and the secret only changes with a restart, so the only thing that
  ends an entry is its ``exp`` (checked on every hit). Holds no account facts.
- :class:`AuthCache` accounts (``user id -> username, token generation``) and API
  tokens (``sha256 -> owner, app names, expiry, last use``): every entry carries
  the auth epoch (:mod:`tufsync.auth.epoch`) read *before* the database read that
  filled it, and is used only while the epoch still answers that same value. Any
  committed change to accounts, API tokens or apps moves the epoch (database
  triggers, whoever writes), so a deleted account, a changed token generation, a
  revoked or re-scoped API token is refused on the next request; when the epoch
  cannot vouch (``None``: PostgreSQL listener down) nothing is read from or stored
  in the cache. Expiry and the route an API token may call are checked on every
  request, hit or not. Both maps are bounded (cleared when full).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from tufsync.auth.epoch import AuthEpoch, NoEpoch, open_epoch
from tufsync.auth.tokens import LoginClaims, read_token_with_expiry

K = TypeVar("K")
V = TypeVar("V")
MAX_ENTRIES = 10_000


class _Bounded(Generic[K, V]):
    """A dict that forgets everything when it reaches ``limit`` entries."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self.limit = limit
        self.entries: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self.entries.get(key)

    def put(self, key: K, value: V) -> None:
        if len(self.entries) >= self.limit:
            self.entries.clear()
        self.entries[key] = value

    def clear(self) -> None:
        self.entries.clear()


class VerifiedTokens:
    """Login JWTs already verified, by token string (see the module docstring)."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self._tokens: _Bounded[str, tuple[LoginClaims, float]] = _Bounded(limit)

    def claims(self, secret: str, token: str) -> LoginClaims:
        """The claims of a valid token, or raise InvalidToken (as ``read_token_with_expiry``)."""
        found = self._tokens.get(token)
        if found is not None and found[1] > time.time():
            return found[0]
        claims, expires = read_token_with_expiry(secret, token)
        self._tokens.put(token, (claims, expires))
        return claims


@dataclass(frozen=True)
class CachedAccount:
    user_id: int
    username: str
    generation: str
    epoch: int


@dataclass(frozen=True)
class CachedApiToken:
    user_id: int
    username: str
    app_names: frozenset[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    epoch: int


class AuthCache:
    """Accounts and API tokens by epoch, plus verified JWTs (see the module docstring)."""

    def __init__(self, epoch: AuthEpoch | None = None, limit: int = MAX_ENTRIES) -> None:
        self.epoch: AuthEpoch = epoch or NoEpoch()
        self.jwts = VerifiedTokens(limit)
        self._accounts: _Bounded[int, CachedAccount] = _Bounded(limit)
        self._api_tokens: _Bounded[str, CachedApiToken] = _Bounded(limit)

    @classmethod
    def open(cls, database_url: str) -> AuthCache:
        return cls(open_epoch(database_url))

    def current_epoch(self) -> int | None:
        return self.epoch.current()

    def account(self, user_id: int, epoch: int | None) -> CachedAccount | None:
        found = self._accounts.get(user_id)
        if found is None or epoch is None or found.epoch != epoch:
            return None
        return found

    def keep_account(self, entry: CachedAccount) -> None:
        self._accounts.put(entry.user_id, entry)

    def api_token(self, digest: str, epoch: int | None) -> CachedApiToken | None:
        found = self._api_tokens.get(digest)
        if found is None or epoch is None or found.epoch != epoch:
            return None
        return found

    def keep_api_token(self, digest: str, entry: CachedApiToken) -> None:
        self._api_tokens.put(digest, entry)

    def changed(self) -> None:
        """This process committed an auth change: forget every entry at once."""
        self.epoch.changed()
        self._accounts.clear()
        self._api_tokens.clear()

    async def close(self) -> None:
        await self.epoch.close()
