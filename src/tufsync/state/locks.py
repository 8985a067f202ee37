"""Waiting for and holding a state-store lock, with its fencing token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tufsync.state.base import StateStore


class LockTimeout(TimeoutError):
    """The lock stayed taken for longer than the caller would wait."""


class LockLost(RuntimeError):
    """The lock expired or was taken over while the holder was still working."""


@dataclass(frozen=True)
class HeldLock:
    store: StateStore
    name: str
    token: int
    ttl: float

    async def ensure_held(self) -> None:
        """Refresh the lock; raise LockLost when the fencing token is no longer current."""
        if not await self.store.extend_lock(self.name, self.token, self.ttl):
            raise LockLost(f"lock {self.name} was lost (token {self.token})")


async def _heartbeat(held: HeldLock) -> None:
    """Keep extending the lock while its holder works; stop once it is lost."""
    while True:
        await asyncio.sleep(held.ttl / 3)
        if not await held.store.extend_lock(held.name, held.token, held.ttl):
            return


@asynccontextmanager
async def hold_lock(
    store: StateStore, name: str, *, ttl: float = 15.0, wait: float = 120.0
) -> AsyncIterator[HeldLock]:
    """Wait up to ``wait`` seconds for ``name``; hold it for the ``async with`` body.

    The lock is extended in the background every ``ttl / 3`` seconds, so a short
    ``ttl`` only matters when the holder dies: then others get it after ``ttl``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.002
    while True:
        token = await store.acquire_lock(name, ttl)
        if token is not None:
            break
        if loop.time() >= deadline:
            raise LockTimeout(f"timed out waiting for lock {name}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    held = HeldLock(store, name, token, ttl)
    beat = asyncio.create_task(_heartbeat(held))
    try:
        yield held
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
        await store.release_lock(name, token)
