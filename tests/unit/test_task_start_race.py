"""A runner marks its task STARTED by compare-and-set: a batch that finished the
task between the runner's read and that write keeps its SUCCESS (the runner
used to overwrite it with STARTED, and then did the task's work again)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scaleout import TEST_REDIS_DB
from tufsync import tenant_keys
from tufsync.state.base import StateStore
from tufsync.state.redis import RedisStateStore
from tufsync.state.sqlite import SqliteStateStore
from tufsync.tasks.records import PENDING, STARTED, SUCCESS, TaskRecords

REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    if request.param == "sqlite":
        s: StateStore = await SqliteStateStore.open(str(tmp_path / "state.db"))
    else:
        s = await RedisStateStore.open(REDIS_URL)
    yield s
    await s.close()


async def test_replace_if_equals(store: StateStore) -> None:
    key = f"TEST_{uuid.uuid4().hex}"
    assert not await store.replace_if_equals(key, "a", "b")
    await store.set(key, "a")
    assert not await store.replace_if_equals(key, "x", "b")
    assert await store.get(key) == "a"
    assert await store.replace_if_equals(key, "a", "b", ttl=60)
    assert await store.get(key) == "b"
    await store.delete(key)


async def test_start_marks_an_unfinished_task_started(store: StateStore) -> None:
    records = TaskRecords(store)
    record = await records.create("add_artifacts", "alice", "app", {})
    assert record.state == PENDING
    started = await records.start(record.task_id)
    assert started is not None and started.state == STARTED
    stored = await records.get(record.task_id)
    assert stored is not None and stored.state == STARTED
    await records.delete(record.task_id)


async def test_start_never_overwrites_what_a_batch_finished_meanwhile(
    store: StateStore,
) -> None:
    records = TaskRecords(store)
    record = await records.create("add_artifacts", "alice", "app", {})
    key = tenant_keys.task(record.task_id)
    real_get = store.get
    raced: list[str] = []

    async def get_then_leader_finishes(name: str) -> str | None:
        raw = await real_get(name)
        if name == key and not raced:  # the batch leader finishes it right after the read
            raced.append(name)
            leader_view = await records.get(record.task_id)
            assert leader_view is not None
            await records.finish(leader_view, ok=True, message="Artifact(s) Added")
        return raw

    store.get = get_then_leader_finishes  # type: ignore[method-assign]
    try:
        after = await records.start(record.task_id)
    finally:
        store.get = real_get  # type: ignore[method-assign]
    assert raced
    assert after is not None and after.state == SUCCESS
    stored = await records.get(record.task_id)
    assert stored is not None and stored.state == SUCCESS
    assert stored.result is not None and stored.result["message"] == "Artifact(s) Added"
    await records.delete(record.task_id)
