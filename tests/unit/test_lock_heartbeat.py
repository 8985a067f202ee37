"""Leaving ``hold_lock`` ends its heartbeat even when the state store swallows the
cancellation of an extension in flight (the runner then waited for ever on the
lease's heartbeat, holding the lease, after its task had ended)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from tufsync.state.locks import hold_lock
from tufsync.state.sqlite import SqliteStateStore


class SwallowingStore(SqliteStateStore):
    """A store whose lock extension, once cancelled, goes on and answers (as a
    client library that catches the cancellation during its round trip does)."""

    extending = asyncio.Event()
    extensions = 0

    async def extend_lock(self, name: str, token: int, ttl: float) -> bool:
        type(self).extensions += 1
        self.extending.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)  # the round trip
        return await super().extend_lock(name, token, ttl)


async def test_hold_lock_exit_ends_a_heartbeat_whose_cancellation_was_swallowed(
    tmp_path: Path,
) -> None:
    store = await SwallowingStore.open(str(tmp_path / "state.db"))
    try:
        SwallowingStore.extending = asyncio.Event()
        lock = hold_lock(store, "lease:t1", ttl=0.6, wait=1)
        async with lock:
            await asyncio.wait_for(SwallowingStore.extending.wait(), 5)
            # leave while the heartbeat's extension is in flight
        before = SwallowingStore.extensions
        await asyncio.sleep(1.0)
        assert SwallowingStore.extensions == before  # no heartbeat after the exit
        assert await store.lock_holder("lease:t1") is None
    finally:
        await store.close()


async def test_hold_lock_exit_is_bounded_when_cancellation_is_swallowed(tmp_path: Path) -> None:
    store = await SwallowingStore.open(str(tmp_path / "state.db"))
    try:
        SwallowingStore.extending = asyncio.Event()

        async def hold() -> None:
            async with hold_lock(store, "lease:t2", ttl=0.6, wait=1):
                await asyncio.wait_for(SwallowingStore.extending.wait(), 5)

        await asyncio.wait_for(hold(), 3)
    finally:
        await store.close()
