"""Task records' stored form and the recent-task list (real SQLite state store)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tufsync import tenant_keys
from tufsync.state.sqlite import SqliteStateStore
from tufsync.tasks import submit
from tufsync.tasks.records import TaskRecord


class CountingStore:
    """The real store, counting writes of each key."""

    def __init__(self, inner: SqliteStateStore) -> None:
        self.inner = inner
        self.sets: dict[str, int] = {}

    async def get(self, key: str) -> str | None:
        await asyncio.sleep(0)  # let other callers arrive meanwhile, as a real round trip does
        return await self.inner.get(key)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self.sets[key] = self.sets.get(key, 0) + 1
        await self.inner.set(key, value, ttl)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Any]:
    inner = await SqliteStateStore.open(str(tmp_path / "state.db"))
    yield SimpleNamespace(state=CountingStore(inner))
    await inner.close()


def test_stored_form_is_the_dataclass_fields() -> None:
    record = TaskRecord(
        "0f1e2d3c-0000-4000-8000-000000000000",
        "add_artifacts",
        "alice",
        "app1",
        {"artifacts": [{"path": "a/b.bin", "length": 3, "hashes": {"sha256": "00"}}]},
        result={"task": "add_artifacts", "status": True, "details": {"versions": {"a": 2}}},
    )
    assert json.loads(record.to_json()) == asdict(record)
    assert TaskRecord.from_json(record.to_json()) == record


async def test_concurrent_submits_share_one_write_of_the_recent_list(services: Any) -> None:
    ids = [f"task-{i:02d}" for i in range(16)]
    await asyncio.gather(*(submit.remember_task(services, "alice", "app1", t) for t in ids))
    listed = await submit.recent_task_ids(services, "alice", "app1")
    assert listed == list(reversed(ids))  # newest first, every one of them
    key = tenant_keys.recent_tasks(tenant_keys.TenantRef("alice", "app1"))
    assert services.state.sets[key] < len(ids)
    assert submit._lists == {}  # nothing kept once every caller returned


async def test_recent_list_is_newest_first_and_bounded(services: Any) -> None:
    for i in range(submit.RECENT_TASKS + 5):
        await submit.remember_task(services, "alice", "app1", f"task-{i:02d}")
    await submit.remember_task(services, "bob", "app1", "other")
    listed = await submit.recent_task_ids(services, "alice", "app1")
    expected = [f"task-{i:02d}" for i in reversed(range(5, submit.RECENT_TASKS + 5))]
    assert listed == expected
    assert await submit.recent_task_ids(services, "bob", "app1") == ["other"]
