"""Rate limits on login and signup, per client address and per username (``limits``).

Failed attempts are counted in moving windows: one per client address, one
per username (lower-cased), and one per (username, client address) pair; no
caller text lands in a storage key (each identifier is a SHA-256 hash). While
the client's window or the username's window is full, attempts are refused
with the seconds to wait, before any password is hashed.

A client address that logged in to a username successfully within
:data:`FAMILIAR_SECONDS` is *familiar* for that username: the username's
window does not apply to it, only its own address window and the window of
its own failures for that username (of the per-username size). So failures
from other addresses cannot lock the owner out of a place they use, while
an unfamiliar address (a new device, or an attacker's) still meets the
username's window: guesses spread over many addresses stay bounded per
username. (Identity providers call this a familiar-location or known-device
lockout bypass.)

Embedded mode keeps the windows and familiar addresses in memory (a restart
forgets them); scale-out keeps them in Redis, shared by every API process.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

KEY_PREFIX = "tufsync_ratelimit"
FAMILIAR_SECONDS = 30 * 24 * 3600


def parse_limit(text: str) -> RateLimitItem:
    """A limit such as ``10/minute``; ValueError when it cannot be read."""
    return parse(text)


def _digest(*parts: str) -> str:
    joined = "\0".join(parts)  # NUL occurs in neither an address nor a username
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused and for how long."""

    scope: str  # "address" or "username"
    retry_after: int

    def sentence(self, action: str) -> str:
        return (
            f"Too many failed {action} attempts for this {self.scope}; "
            f"try again in {self.retry_after} seconds."
        )


@dataclass(frozen=True)
class _Keys:
    address: str  # failures from the client address, any username
    username: str  # failures on the username, from any address
    pair: str  # failures on the username from this address
    familiar: str  # present while the address is familiar for the username


class AttemptLimiter:
    def __init__(self, storage_uri: str, per_client: str, per_username: str) -> None:
        options: dict[str, str] = {}
        if storage_uri.startswith("async+redis"):
            options = {"implementation": "redispy", "key_prefix": KEY_PREFIX}
        storage = storage_from_string(storage_uri, **options)
        if not isinstance(storage, AsyncStorage):
            raise ValueError(f"not an asynchronous limits storage: {storage_uri.split(':')[0]}")
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._per_client = parse_limit(per_client)
        self._per_username = parse_limit(per_username)

    @classmethod
    def for_redis(cls, redis_url: str, per_client: str, per_username: str) -> AttemptLimiter:
        return cls("async+" + redis_url, per_client, per_username)

    @staticmethod
    def _keys(action: str, client: str, username: str) -> _Keys:
        user = _digest(username.lower())
        pair = _digest(username.lower(), client)
        return _Keys(
            address=f"{action}:a:{_digest(client)}",
            username=f"{action}:u:{user}",
            pair=f"{action}:p:{pair}",
            familiar=f"{action}:k:{pair}",
        )

    async def familiar(self, action: str, client: str, username: str) -> bool:
        """True when ``client`` succeeded for ``username`` within FAMILIAR_SECONDS."""
        key = self._keys(action, client, username).familiar
        return bool(await self._storage.get(key))

    async def refusal(self, action: str, client: str, username: str) -> Refusal | None:
        """A Refusal when the client or the username has no attempts left, else None.

        For a familiar client, the username's window is the one of its own failures.
        """
        keys = self._keys(action, client, username)
        own = keys.pair if await self.familiar(action, client, username) else keys.username
        windows = (
            ("address", self._per_client, keys.address),
            ("username", self._per_username, own),
        )
        for scope, item, ident in windows:
            if not await self._limiter.test(item, ident):
                stats = await self._limiter.get_window_stats(item, ident)
                return Refusal(scope, max(1, int(stats.reset_time - time.time()) + 1))
        return None

    async def failed(self, action: str, client: str, username: str) -> None:
        """Count one failed attempt against the client, the username and the pair."""
        keys = self._keys(action, client, username)
        await self._limiter.hit(self._per_client, keys.address)
        await self._limiter.hit(self._per_username, keys.username)
        await self._limiter.hit(self._per_username, keys.pair)

    async def succeeded(self, action: str, client: str, username: str) -> None:
        """Make ``client`` familiar for ``username`` for the next FAMILIAR_SECONDS."""
        key = self._keys(action, client, username).familiar
        await self._storage.clear(key)  # so the expiry starts again now
        await self._storage.incr(key, FAMILIAR_SECONDS)
