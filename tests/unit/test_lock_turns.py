"""The in-process queue in front of a repository lock: urgent waiters (the finalize
task a signing request waits for) go first, the others keep their order, and a
waiter that gave up never blocks the ones behind it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tufsync.state.locks import LockTimeout, hold_lock
from tufsync.state.sqlite import SqliteStateStore


async def test_urgent_waiters_go_first_and_others_keep_their_order(tmp_path: Path) -> None:
    store = await SqliteStateStore.open(str(tmp_path / "state.db"))
    order: list[str] = []
    release = asyncio.Event()

    async def take(name: str, urgent: bool = False, wait: float = 10) -> None:
        async with hold_lock(store, "app:a:b:lock", wait=wait, urgent=urgent):
            order.append(name)
            if name == "holder":
                await release.wait()

    try:
        holder = asyncio.create_task(take("holder"))
        await asyncio.sleep(0.05)
        waiters = [asyncio.create_task(take(f"p{i}")) for i in range(3)]
        await asyncio.sleep(0.01)
        gives_up = asyncio.create_task(take("impatient", wait=0.05))
        await asyncio.sleep(0.01)
        waiters += [asyncio.create_task(take("finalize", urgent=True))]
        with pytest.raises(LockTimeout):
            await gives_up
        release.set()
        await asyncio.wait_for(asyncio.gather(holder, *waiters), 10)
        assert order == ["holder", "finalize", "p0", "p1", "p2"]
    finally:
        await store.close()
