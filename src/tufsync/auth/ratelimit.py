"""Rate limits on login and signup, per client address and per username (``limits``).

Failed attempts are counted in two moving windows, one per client address and
one per username (lower-cased, hashed so no caller text lands in a storage key).
While either window is full, attempts are refused with the seconds to wait,
before any password is hashed. Embedded mode keeps the windows in memory;
scale-out keeps them in Redis, shared by every API process.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

KEY_PREFIX = "tufsync_ratelimit"


def parse_limit(text: str) -> RateLimitItem:
    """A limit such as ``10/minute``; ValueError when it cannot be read."""
    return parse(text)


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


class AttemptLimiter:
    def __init__(self, storage_uri: str, per_client: str, per_username: str) -> None:
        options: dict[str, str] = {}
        if storage_uri.startswith("async+redis"):
            options = {"implementation": "redispy", "key_prefix": KEY_PREFIX}
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri, **options))
        self._limits = {"address": parse_limit(per_client), "username": parse_limit(per_username)}

    @classmethod
    def for_redis(cls, redis_url: str, per_client: str, per_username: str) -> AttemptLimiter:
        return cls("async+" + redis_url, per_client, per_username)

    @staticmethod
    def _identifiers(action: str, client: str, username: str) -> dict[str, str]:
        user = hashlib.sha256(username.lower().encode("utf-8", "surrogatepass")).hexdigest()
        addr = hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()
        return {"address": f"{action}:a:{addr}", "username": f"{action}:u:{user}"}

    async def refusal(self, action: str, client: str, username: str) -> Refusal | None:
        """A Refusal when the client or the username has no attempts left, else None."""
        for scope, ident in self._identifiers(action, client, username).items():
            item = self._limits[scope]
            if not await self._limiter.test(item, ident):
                stats = await self._limiter.get_window_stats(item, ident)
                return Refusal(scope, max(1, int(stats.reset_time - time.time()) + 1))
        return None

    async def failed(self, action: str, client: str, username: str) -> None:
        """Count one failed attempt against the client and the username."""
        for scope, ident in self._identifiers(action, client, username).items():
            await self._limiter.hit(self._limits[scope], ident)
