"""Open the state store named by a URL (``sqlite:///path`` or ``redis://``)."""

from __future__ import annotations

from tufsync.state.base import StateStore


async def open_state_store(url: str) -> StateStore:
    if url.startswith("sqlite:///"):
        from tufsync.state.sqlite import SqliteStateStore

        return await SqliteStateStore.open(url.removeprefix("sqlite:///"))
    if url.startswith(("redis://", "rediss://", "unix://")):
        from tufsync.state.redis import RedisStateStore

        return await RedisStateStore.open(url)
    raise ValueError(f"unsupported state store URL {url!r}: use sqlite:///path or redis://host")
