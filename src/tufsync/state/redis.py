"""Redis state store for the scale-out mode (redis-py asyncio).

Compare-and-delete, lock acquisition and lock extension run as Lua scripts so
they stay atomic across API processes and workers and cost one round trip
each; fencing tokens come from INCR inside the acquiring script.

A lock's token counter (``fence:<lock>``) lives :data:`FENCE_RETENTION` seconds
after the lock was last taken or extended, so the counter of every task lease
(one lock per task) goes away with its task instead of staying forever. While
anyone holds or keeps extending the lock, its counter stays: tokens of one lock
strictly increase for as long as a holder of an older token can still act on it.
"""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from tufsync.state.base import LockReads, lock_value

# Seconds a fence counter outlives the last acquisition or extension of its lock:
# far longer than any task runs (a task's deadline is at most an hour, and its
# lease is extended every few seconds while it runs).
FENCE_RETENTION = 7 * 24 * 3600.0

_DELETE_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# ARGV[3]: the time to live in ms, or '' for none.
_REPLACE_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[3] == '' then
    redis.call('SET', KEYS[1], ARGV[2])
  else
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  end
  return 1
end
return 0
"""
_DRAIN_SET = """
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return members
"""
# One round trip: draw the next fencing token (INCR), then SET NX the lock to
# "<token>" or "<token> <owner>" (see state.base.lock_value). A token is drawn
# even when the lock is taken, as the two separate commands did before. The
# counter's time to live (ARGV[3]) starts again at every acquisition.
_ACQUIRE_LOCK = """
local token = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local value = tostring(token)
if ARGV[2] ~= '' then
  value = value .. ' ' .. ARGV[2]
end
if redis.call('SET', KEYS[1], value, 'PX', ARGV[1], 'NX') then
  return token
end
return false
"""
# A lock's value is "<token>" or "<token> <owner>"; these match it by token.
# Extending a held lock also keeps its fence counter (KEYS[2]) for ARGV[3] ms.
_EXTEND_LOCK = """
local v = redis.call('GET', KEYS[1])
if v and (v == ARGV[1] or string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ') then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LOCK = """
local v = redis.call('GET', KEYS[1])
if v and (v == ARGV[1] or string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ') then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_FENCE_RETENTION_MS = int(FENCE_RETENTION * 1000)


def _fence(name: str) -> str:
    """The key of lock ``name``'s fencing-token counter."""
    return f"fence:{name}"


class RedisStateStore(LockReads):
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client
        self._delete_if_equals = client.register_script(_DELETE_IF_EQUALS)
        self._replace_if_equals = client.register_script(_REPLACE_IF_EQUALS)
        self._extend_lock = client.register_script(_EXTEND_LOCK)
        self._release_lock = client.register_script(_RELEASE_LOCK)
        self._drain_set = client.register_script(_DRAIN_SET)
        self._acquire_lock = client.register_script(_ACQUIRE_LOCK)

    @classmethod
    async def open(cls, url: str) -> RedisStateStore:
        client = aioredis.from_url(url, decode_responses=True)
        return cls(client)

    @staticmethod
    def _px(ttl: float | None) -> int | None:
        return None if ttl is None else max(1, int(ttl * 1000))

    async def get(self, key: str) -> str | None:
        return cast("str | None", await self._r.get(key))

    async def get_many(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        values = await self._r.mget(keys)
        return {k: str(v) for k, v in zip(keys, values, strict=True) if v is not None}

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self._r.set(key, value, px=self._px(ttl))

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        return bool(await self._r.set(key, value, px=self._px(ttl), nx=True))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._r.delete(*keys)

    async def delete_if_equals(self, key: str, expected: str) -> bool:
        result: Any = await self._delete_if_equals(keys=[key], args=[expected])
        return bool(result)

    async def replace_if_equals(
        self, key: str, expected: str, value: str, ttl: float | None = None
    ) -> bool:
        px = self._px(ttl)
        result: Any = await self._replace_if_equals(
            keys=[key], args=[expected, value, "" if px is None else str(px)]
        )
        return bool(result)

    async def keys(self, prefix: str) -> list[str]:
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
        found = [k async for k in self._r.scan_iter(match=pattern, count=1000)]
        return sorted(found)

    async def rename(self, old: str, new: str) -> bool:
        try:
            return bool(await self._r.renamenx(old, new))
        except ResponseError as exc:
            if "no such key" in str(exc).lower():
                return False
            raise

    async def add_to_set(self, name: str, member: str) -> None:
        await self._r.sadd(name, member)  # type: ignore[misc]

    async def drain_set(self, name: str) -> list[str]:
        members: Any = await self._drain_set(keys=[name])
        return sorted(str(m) for m in members)

    async def acquire_lock(self, name: str, ttl: float, owner: str = "") -> int | None:
        lock_value(0, owner)  # refuses an owner name with a space, as parse_lock_value needs
        result: Any = await self._acquire_lock(
            keys=[name, _fence(name)],
            args=[max(1, int(ttl * 1000)), owner, _FENCE_RETENTION_MS],
        )
        return None if result is None else int(result)

    async def extend_lock(self, name: str, token: int, ttl: float) -> bool:
        result: Any = await self._extend_lock(
            keys=[name, _fence(name)],
            args=[str(token), max(1, int(ttl * 1000)), _FENCE_RETENTION_MS],
        )
        return bool(result)

    async def release_lock(self, name: str, token: int) -> None:
        await self._release_lock(keys=[name], args=[str(token)])

    async def ping(self) -> None:
        await self._r.ping()

    async def close(self) -> None:
        await self._r.aclose()
