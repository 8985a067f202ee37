"""State data written under the old key names migrates to tenant_keys, on SQLite and Redis.

The old data is written here explicitly in the old format (``BOOTSTRAP_<admin>_<app>``,
``<ROLE>_SIGNING_<admin>_<app>``, ``REPO_<admin>/<app>``, ``TASK_<id>``, ...), as the
code of state schema 1 (tufsync 0.x) wrote it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from tufsync import tenant_keys
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.state import migrate
from tufsync.state.base import StateStore
from tufsync.state.redis import RedisStateStore
from tufsync.state.sqlite import SqliteStateStore
from tufsync.storage import ObjectStore, open_store
from tufsync.tasks.records import TaskRecords
from tufsync.tenant_keys import TenantRef

JOHN = TenantRef("john", "doe_x")  # collides with john_doe/x under the old names
KIM = TenantRef("kim_lee", "z")  # kim/lee_z would be the other reading
BOOT_TASK = str(uuid.uuid4())
OPEN_TASK = str(uuid.uuid4())


@pytest.fixture(params=["sqlite", "redis"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, redis_db: str
) -> AsyncIterator[StateStore]:
    if request.param == "sqlite":
        s: StateStore = await SqliteStateStore.open(str(tmp_path / "state.db"))
    else:
        s = await RedisStateStore.open(redis_db)
        await s.ping()
    yield s
    await s.close()


@pytest.fixture
async def storage(tmp_path: Path) -> ObjectStore:
    objects = open_store(f"file://{tmp_path / 'public'}")
    await objects.put(tenant_keys.metadata_prefix(JOHN) + "1.root.json", b"{}")
    await objects.put(tenant_keys.metadata_prefix(KIM) + "1.root.json", b"{}")
    return objects


def record(task_id: str, ref: TenantRef, state: str, name: str = "bootstrap") -> str:
    now = "2026-01-01T00:00:00+00:00"
    return json.dumps(
        {
            "task_id": task_id,
            "name": name,
            "admin": ref.admin,
            "app": ref.app,
            "params": {"roles": ["timestamp"]},
            "state": state,
            "result": None,
            "created_at": now,
            "updated_at": now,
        }
    )


def draft(role: str) -> str:
    return json.dumps({"role": role, "metadata": {"signed": {"v": role}}, "trusted_version": 1})


SETTINGS = json.dumps({"bootstrap": BOOT_TASK, "roles": {}})
SCHEDULE = json.dumps({"admin": "john", "app": "doe_x", "expires": {"timestamp": 1.0}})

# Old key → (value, ttl seconds or None): exactly what the old code wrote.
OLD: dict[str, tuple[str, float | None]] = {
    f"TASK_{BOOT_TASK}": (record(BOOT_TASK, JOHN, "SUCCESS"), 3600.0),
    f"TASK_{OPEN_TASK}": (
        record(OPEN_TASK, JOHN, "PENDING", "force_online_metadata_update"),
        3600.0,
    ),
    "BOOTSTRAP_john_doe_x": (BOOT_TASK, None),
    "SETTINGS_john_doe_x": (SETTINGS, None),
    "REPO_john/doe_x": (SCHEDULE, None),
    "ROOT_SIGNING_john_doe_x": (draft("root"), None),
    "REPO_SIGNING_john_doe_x": (draft("repo"), None),
    "TASK_SIGNING_john_doe_x": (draft("task"), None),
    "RECOVERY_john_doe_x": (BOOT_TASK, 3600.0),
    "LOCK_TUF_john_doe_x": ("7", 60.0),
    "LOCK_SIGNING_john/doe_x": ("3", 60.0),
    "LOCK_TASK_" + OPEN_TASK: ("2", 60.0),
    "LOCK_REFRESH_SCHEDULER": ("1", 60.0),
    "REFRESH_QUEUED_john/doe_x": ("queued", 60.0),
    # No task record left: decided by the only split with published metadata.
    "BOOTSTRAP_kim_lee_z": ("gone-task", None),
    # Neither ann/bob_c nor ann_bob/c is known anywhere: given to nobody.
    "SETTINGS_ann_bob_c": (json.dumps({"bootstrap": "unknown"}), None),
}


async def write_old(store: StateStore) -> None:
    for key, (value, ttl) in OLD.items():
        await store.set(key, value, ttl=ttl)
    await store.add_to_set("BATCH_john/doe_x", OPEN_TASK)
    await store.set("unrelated-key-of-another-program", "keep")


async def test_old_data_migrates(store: StateStore, storage: ObjectStore) -> None:
    await write_old(store)
    assert await migrate.pending(store)

    report = await migrate.upgrade(store, storage)

    expected = {
        tenant_keys.task(BOOT_TASK): OLD[f"TASK_{BOOT_TASK}"][0],
        tenant_keys.task(OPEN_TASK): OLD[f"TASK_{OPEN_TASK}"][0],
        tenant_keys.bootstrap(JOHN): BOOT_TASK,
        tenant_keys.settings(JOHN): SETTINGS,
        tenant_keys.schedule(JOHN): SCHEDULE,
        tenant_keys.draft(JOHN, "root"): draft("root"),
        tenant_keys.draft(JOHN, "repo"): draft("repo"),
        tenant_keys.draft(JOHN, "task"): draft("task"),
        tenant_keys.recovery(JOHN): BOOT_TASK,
        tenant_keys.bootstrap(KIM): "gone-task",
        "unrelated-key-of-another-program": "keep",
    }
    assert await store.get_many(list(expected)) == expected
    assert await store.drain_set(tenant_keys.target_batch(JOHN)) == [OPEN_TASK]
    assert set(report.unresolved) == {"SETTINGS_ann_bob_c"}
    assert "ann/bob_c" in report.unresolved["SETTINGS_ann_bob_c"]
    quarantined = migrate.UNMIGRATED_PREFIX + tenant_keys.escape("SETTINGS_ann_bob_c")
    assert await store.get(quarantined) == OLD["SETTINGS_ann_bob_c"][0]
    # Nothing of the old names is left; short-lived entries are gone, not renamed.
    assert [k for k in await store.keys("") if migrate.is_old_key(k)] == []
    for gone in ("LOCK_TUF_john_doe_x", "LOCK_REFRESH_SCHEDULER", "REFRESH_QUEUED_john/doe_x"):
        assert gone in report.dropped
    # Nothing went to the other reading of the colliding names.
    other = TenantRef("john_doe", "x")
    for build in (tenant_keys.bootstrap, tenant_keys.settings, tenant_keys.schedule):
        assert await store.get(build(other)) is None
    assert not await migrate.pending(store)
    # The migrated store works for the code that reads it.
    unfinished = await TaskRecords(store).unfinished()
    assert [r.task_id for r in unfinished] == [OPEN_TASK]
    again = await migrate.upgrade(store, storage)
    assert (again.moved, again.dropped, again.unresolved) == ({}, [], {})


async def test_time_to_live_moves_with_the_entry(store: StateStore, storage: ObjectStore) -> None:
    await store.set("RECOVERY_john_doe_x", BOOT_TASK, ttl=1.5)
    await store.set(f"TASK_{BOOT_TASK}", record(BOOT_TASK, JOHN, "SUCCESS"), ttl=100)
    await migrate.upgrade(store, storage)
    assert await store.get(tenant_keys.recovery(JOHN)) == BOOT_TASK
    await asyncio.sleep(1.7)
    assert await store.get(tenant_keys.recovery(JOHN)) is None


async def test_a_new_store_needs_no_upgrade(store: StateStore) -> None:
    await store.set("unrelated-key-of-another-program", "keep")
    assert not await migrate.pending(store)
    assert await store.get(tenant_keys.STATE_SCHEMA) == migrate.SCHEMA_VERSION


async def test_embedded_start_upgrades_its_own_state_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = await SqliteStateStore.open(str(data / "state.db"))
    await write_old(old)
    await old.close()
    objects = open_store(f"file://{data / 'public'}")
    await objects.put(tenant_keys.metadata_prefix(JOHN) + "1.root.json", b"{}")
    services = await Services.start(Settings(data_dir=data), embedded_worker=False)
    try:
        assert await services.state.get(tenant_keys.settings(JOHN)) == SETTINGS
        assert not await migrate.pending(services.state)
    finally:
        await services.stop()


async def test_scale_out_start_refuses_until_db_upgrade(tmp_path: Path, redis_db: str) -> None:
    client = aioredis.from_url(redis_db, decode_responses=True)
    await client.set("SETTINGS_john_doe_x", SETTINGS)
    await client.aclose()
    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_db)
    with pytest.raises(RuntimeError, match="run `tufsync db upgrade`"):
        await Services.start(settings, embedded_worker=False)


def test_db_upgrade_command_migrates_redis(tmp_path: Path, redis_db: str) -> None:
    import os
    import subprocess
    import sys

    client = redis.Redis.from_url(redis_db, decode_responses=True)
    client.set("SETTINGS_john_doe_x", SETTINGS)
    client.set(f"TASK_{BOOT_TASK}", record(BOOT_TASK, JOHN, "SUCCESS"))
    client.set("SETTINGS_ann_bob_c", "{}")
    env = {
        **os.environ,
        "TUFSYNC_DATA_DIR": str(tmp_path / "data"),
        "TUFSYNC_REDIS_URL": redis_db,
    }
    refused = subprocess.run(
        [sys.executable, "-m", "tufsync", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 3
    assert "run `tufsync db" in refused.stderr
    done = subprocess.run(
        [sys.executable, "-m", "tufsync", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "2 entries renamed" in done.stderr
    assert "SETTINGS_ann_bob_c was given to no repository" in done.stderr
    assert client.get(tenant_keys.settings(JOHN)) == SETTINGS
    assert client.get("SETTINGS_john_doe_x") is None
    client.close()
