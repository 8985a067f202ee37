"""The SQLite state store runs statements on the loop thread: another process's
write lock makes a call wait (without blocking the loop), not fail."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tufsync.state import sqlite as sqlite_state
from tufsync.state.sqlite import SqliteStateStore


async def test_waits_for_another_writer_without_blocking_the_loop(tmp_path: Path) -> None:
    store = await SqliteStateStore.open(str(tmp_path / "state.db"))
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the write lock, as another process would
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        writing = asyncio.create_task(store.set("k", "v"))
        await asyncio.sleep(0.3)
        assert not writing.done()
        assert ticks >= 10  # the loop kept running while the write waited
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 2)
        ticker.cancel()
        assert await store.get("k") == "v"
    finally:
        other.close()
        await store.close()


async def test_gives_up_after_the_busy_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_state, "BUSY_WAIT", 0.2)
    store = await SqliteStateStore.open(str(tmp_path / "state.db"))
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError):
            await store.set("k", "v")
        other.execute("ROLLBACK")
        await store.set("k", "v")
        assert await store.get("k") == "v"
    finally:
        other.close()
        await store.close()
