"""One contract suite for every StateStore: SQLite (file) and Redis (real server)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.scaleout import TEST_REDIS_DB
from tufsync import tenant_keys
from tufsync.state import instances
from tufsync.state.base import StateStore
from tufsync.state.locks import LockNotNeeded, LockTimeout, hold_lock
from tufsync.state.redis import RedisStateStore
from tufsync.state.sqlite import SqliteStateStore

REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    if request.param == "sqlite":
        s: StateStore = await SqliteStateStore.open(str(tmp_path / "state.db"))
    else:
        s = await RedisStateStore.open(REDIS_URL)
        await s.ping()  # fails (not skips) when Redis is down
    yield s
    await s.close()


@pytest.fixture
def prefix() -> str:
    return f"TEST_{uuid.uuid4().hex}_"


async def test_get_set_delete(store: StateStore, prefix: str) -> None:
    key = prefix + "a"
    assert await store.get(key) is None
    await store.set(key, "1")
    assert await store.get(key) == "1"
    await store.set(key, "2")
    assert await store.get_many([key, prefix + "missing"]) == {key: "2"}
    await store.delete(key, prefix + "missing")
    assert await store.get(key) is None


async def test_set_if_absent_and_ttl(store: StateStore, prefix: str) -> None:
    key = prefix + "nx"
    # TTLs leave seconds of slack: the suite runs on 2 busy cores.
    assert await store.set_if_absent(key, "first", ttl=1.5)
    assert not await store.set_if_absent(key, "second")
    assert await store.get(key) == "first"
    await asyncio.sleep(1.7)
    assert await store.get(key) is None
    assert await store.set_if_absent(key, "third")


async def test_delete_if_equals(store: StateStore, prefix: str) -> None:
    key = prefix + "cad"
    await store.set(key, "mine")
    assert not await store.delete_if_equals(key, "yours")
    assert await store.delete_if_equals(key, "mine")
    assert await store.get(key) is None


async def test_keys_by_prefix(store: StateStore, prefix: str) -> None:
    for name in ("b", "a", "c"):
        await store.set(prefix + name, name)
    await store.set(prefix.rstrip("_") + "X", "other")
    assert await store.keys(prefix) == [prefix + "a", prefix + "b", prefix + "c"]
    await store.delete(*(prefix + n for n in "abc"), prefix.rstrip("_") + "X")


async def test_lock_tokens_and_expiry(store: StateStore, prefix: str) -> None:
    name = prefix + "lock"
    first = await store.acquire_lock(name, ttl=1.5)
    assert first is not None
    assert await store.acquire_lock(name, ttl=1) is None
    assert await store.lock_holder(name) == first
    assert await store.extend_lock(name, first, ttl=1.5)
    await asyncio.sleep(1.7)
    second = await store.acquire_lock(name, ttl=1)
    assert second is not None and second > first
    assert not await store.extend_lock(name, first, ttl=1)
    await store.release_lock(name, first)  # stale holder cannot release
    assert await store.lock_holder(name) == second
    await store.release_lock(name, second)
    assert await store.lock_holder(name) is None


async def test_hold_lock_serialises(store: StateStore, prefix: str) -> None:
    name = prefix + "mutex"
    inside = 0
    peak = 0

    async def worker() -> None:
        nonlocal inside, peak
        async with hold_lock(store, name, ttl=5, wait=10):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(10)))
    assert peak == 1
    async with hold_lock(store, name, ttl=5):
        with pytest.raises(LockTimeout):
            async with hold_lock(store, name, ttl=5, wait=0.05):
                pass


async def test_drain_set_is_atomic(store: StateStore, prefix: str) -> None:
    name = prefix + "drain"
    for member in ("c", "a", "b"):
        await store.add_to_set(name, member)
    results = await asyncio.gather(*(store.drain_set(name) for _ in range(4)))
    assert sorted(results, key=len)[-1] == ["a", "b", "c"]
    assert sum(len(r) for r in results) == 3
    assert await store.drain_set(name) == []
    await store.add_to_set(name, "d")
    await store.add_to_set(name, "d")
    assert await store.drain_set(name) == ["d"]


async def test_keys_lists_set_names_too(store: StateStore, prefix: str) -> None:
    await store.add_to_set(prefix + "set", "m")
    await store.set(prefix + "entry", "v")
    assert await store.keys(prefix) == [prefix + "entry", prefix + "set"]
    await store.drain_set(prefix + "set")
    await store.delete(prefix + "entry")


async def test_rename_keeps_value_ttl_and_sets(store: StateStore, prefix: str) -> None:
    await store.set(prefix + "old", "v", ttl=1.5)
    assert not await store.rename(prefix + "missing", prefix + "new")
    assert await store.rename(prefix + "old", prefix + "new")
    assert await store.get(prefix + "old") is None
    assert await store.get(prefix + "new") == "v"
    await store.set(prefix + "other", "w")
    assert not await store.rename(prefix + "other", prefix + "new")  # target taken
    assert await store.get(prefix + "other") == "w"
    await asyncio.sleep(1.7)
    assert await store.get(prefix + "new") is None  # the time-to-live moved with it
    await store.add_to_set(prefix + "s1", "a")
    await store.add_to_set(prefix + "s1", "b")
    assert await store.rename(prefix + "s1", prefix + "s2")
    assert await store.drain_set(prefix + "s2") == ["a", "b"]
    assert await store.drain_set(prefix + "s1") == []
    await store.delete(prefix + "other")


async def test_lock_of_dead_owner_is_taken_over_at_once(store: StateStore, prefix: str) -> None:
    """A lease naming a dead instance does not block for its TTL."""
    dead, live = f"dead{uuid.uuid4().hex}", f"live{uuid.uuid4().hex}"
    name = prefix + "lease"
    token = await store.acquire_lock(name, ttl=60, owner=dead)
    assert token is not None
    assert await store.lock_owner(name) == (token, dead)
    assert await store.lock_holder(name) == token
    assert await store.extend_lock(name, token, ttl=60)
    started = time.monotonic()
    async with hold_lock(store, name, ttl=5, wait=5) as held:
        assert held.token > token
        assert await store.lock_owner(name) == (held.token, instances.PROCESS_ID)
    assert time.monotonic() - started < 2

    await store.set(tenant_keys.instance_alive(live), "alive", ttl=30)
    assert await store.acquire_lock(name, ttl=60, owner=live) is not None
    with pytest.raises(LockTimeout):
        async with hold_lock(store, name, ttl=5, wait=0.6):
            pass
    await store.delete(tenant_keys.instance_alive(live), name)
    assert await store.acquire_lock(name, ttl=60) is not None  # unnamed: ends with its TTL
    with pytest.raises(LockTimeout):
        async with hold_lock(store, name, ttl=5, wait=0.6):
            pass
    await store.delete(name)


async def test_hold_lock_unless_skips_the_lock_when_the_work_is_done(
    store: StateStore, prefix: str
) -> None:
    name = prefix + "lock"
    asked: list[str] = []

    async def done() -> bool:
        asked.append("done")
        return True

    async def not_done() -> bool:
        return False

    async with hold_lock(store, name) as held:  # a holder: the waiter's turn comes after it
        waiter = asyncio.create_task(_enter(store, name, done))
        await asyncio.sleep(0.05)
        assert not asked  # asked only at its turn, not while the lock is held
        assert await store.lock_holder(name) == held.token
    with pytest.raises(LockNotNeeded):
        await waiter
    assert asked == ["done"]
    assert await store.lock_holder(name) is None  # never taken
    async with hold_lock(store, name, unless=not_done) as held:
        assert await store.lock_holder(name) == held.token


async def _enter(store: StateStore, name: str, unless: Callable[[], Awaitable[bool]]) -> None:
    async with hold_lock(store, name, unless=unless):
        raise AssertionError("the lock was taken although its work was done")
