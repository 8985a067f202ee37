"""Fence counters (one per lock, so one per task lease) expire instead of staying forever.

Redis gives ``fence:<lock>`` a time to live that starts again whenever the lock
is taken or extended; SQLite keeps an expiry on the counter row and purges
expired rows. Tokens still strictly increase while the counter lives.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import redis

from tests.scaleout import TEST_REDIS_DB
from tufsync.state import redis as redis_state
from tufsync.state import sqlite as sqlite_state
from tufsync.state.redis import RedisStateStore
from tufsync.state.sqlite import SqliteStateStore

REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
WEEK = 7 * 24 * 3600


async def test_redis_fence_counter_has_a_ttl_renewed_by_acquire_and_extend() -> None:
    store = await RedisStateStore.open(REDIS_URL)
    raw = redis.Redis.from_url(REDIS_URL)
    name = f"TEST_{uuid.uuid4().hex}_lease"
    fence = f"fence:{name}"
    try:
        first = await store.acquire_lock(name, ttl=5, owner="me")
        assert first is not None
        assert WEEK - 60 < raw.ttl(fence) <= WEEK == redis_state.FENCE_RETENTION
        raw.expire(fence, 100)
        assert await store.extend_lock(name, first, ttl=5)
        assert raw.ttl(fence) > WEEK - 60  # a holder that keeps extending keeps its counter
        raw.expire(fence, 100)
        assert not await store.extend_lock(name, first + 1, ttl=5)  # not the holder
        assert raw.ttl(fence) <= 100
        await store.release_lock(name, first)
        raw.expire(fence, 100)
        second = await store.acquire_lock(name, ttl=5)
        assert second is not None and second > first
        assert raw.ttl(fence) > WEEK - 60
        await store.release_lock(name, second)
    finally:
        raw.delete(name, fence)
        raw.close()
        await store.close()


async def test_sqlite_fence_counters_expire_and_are_purged(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStateStore.open(str(path))
    peek = sqlite3.connect(path)

    def expiry(name: str) -> float | None:
        sql = "SELECT expires_at FROM state_counters WHERE name = ?"
        row = peek.execute(sql, (name,)).fetchone()
        return None if row is None else float(row[0])

    try:
        first = await store.acquire_lock("lease:a", ttl=5)
        assert first is not None
        assert abs((expiry("lease:a") or 0) - (time.time() + sqlite_state.FENCE_RETENTION)) < 60
        with peek:
            peek.execute("UPDATE state_counters SET expires_at = ? WHERE name = 'lease:a'", (1.0,))
        assert await store.extend_lock("lease:a", first, ttl=5)
        assert (expiry("lease:a") or 0) > time.time() + sqlite_state.FENCE_RETENTION - 60
        await store.release_lock("lease:a", first)
        second = await store.acquire_lock("lease:a", ttl=5)
        assert second is not None and second > first
        await store.release_lock("lease:a", second)

        # A counter past its expiry is removed by the next purge; live ones stay.
        with peek:
            peek.execute("UPDATE state_counters SET expires_at = ? WHERE name = 'lease:a'", (1.0,))
        store._next_purge = 0.0  # the purge runs at most hourly; run it at the next acquire
        token = await store.acquire_lock("lease:b", ttl=5)
        assert token is not None
        assert expiry("lease:a") is None
        assert expiry("lease:b") is not None
    finally:
        peek.close()
        await store.close()


async def test_sqlite_counters_of_an_older_state_file_get_an_expiry(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    with old:
        old.execute("CREATE TABLE state_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        old.execute("INSERT INTO state_counters VALUES ('lease:old', 41)")
    old.close()
    store = await SqliteStateStore.open(str(path))
    try:
        assert await store.acquire_lock("lease:old", ttl=5) == 42
        peek = sqlite3.connect(path)
        rows = peek.execute("SELECT name, expires_at FROM state_counters").fetchall()
        peek.close()
        assert [r[0] for r in rows] == ["lease:old"]
        assert all(r[1] is not None and r[1] > time.time() for r in rows)
    finally:
        await store.close()
