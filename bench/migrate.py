"""How long ``tufsync db upgrade`` takes to rename the state store of N repositories.

Writes N repositories' entries under the old names (marker, settings, schedule,
root draft, task record; usernames with ``_`` so every name is ambiguous and must
be decided through its task record), then times :func:`tufsync.state.migrate.upgrade`
on SQLite and on Redis. Usage: ``python -m bench.migrate [N] [redis URL]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tufsync.state import migrate
from tufsync.state.base import StateStore
from tufsync.state.redis import RedisStateStore
from tufsync.state.sqlite import SqliteStateStore
from tufsync.storage import open_store


async def seed(store: StateStore, repos: int) -> int:
    written = 0
    for i in range(repos):
        admin, app = f"admin_{i}", f"app_{i}"
        task_id = str(uuid.uuid4())
        record = {
            "task_id": task_id,
            "name": "bootstrap",
            "admin": admin,
            "app": app,
            "params": {},
            "state": "SUCCESS",
            "result": None,
            "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00",
        }
        schedule = {"admin": admin, "app": app, "expires": {"timestamp": 1.0}}
        draft = {"role": "root", "metadata": {}, "trusted_version": 1}
        entries = {
            f"TASK_{task_id}": json.dumps(record),
            f"BOOTSTRAP_{admin}_{app}": task_id,
            f"SETTINGS_{admin}_{app}": json.dumps({"bootstrap": task_id}),
            f"REPO_{admin}/{app}": json.dumps(schedule),
            f"ROOT_SIGNING_{admin}_{app}": json.dumps(draft),
        }
        for key, value in entries.items():
            await store.set(key, value)
        written += len(entries)
    return written


async def run(name: str, store: StateStore, repos: int, workdir: Path) -> None:
    entries = await seed(store, repos)
    storage = open_store((workdir / f"{name}-public").as_uri())
    start = time.perf_counter()
    report = await migrate.upgrade(store, storage)
    elapsed = time.perf_counter() - start
    assert not report.unresolved and len(report.moved) == entries
    print(
        f"{name:7s} {repos:6d} repositories, {entries:6d} entries: {elapsed:6.2f} s "
        f"({entries / elapsed:7.0f} entries/s)"
    )
    await store.close()


async def main() -> None:
    repos = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    redis_url = sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379/15"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        await run("sqlite", await SqliteStateStore.open(str(workdir / "state.db")), repos, workdir)
        redis_store = await RedisStateStore.open(redis_url)
        await redis_store._r.flushdb()  # a scratch database: the benchmark owns it
        await run("redis", redis_store, repos, workdir)


if __name__ == "__main__":
    asyncio.run(main())
