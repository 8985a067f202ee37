"""Scale-out: database connections killed and the Redis state store flushed under traffic.

Two API processes and two workers (PostgreSQL, Redis, S3) serve random
uploads, publishes, removals and deletions. Every cycle every PostgreSQL
connection of the service is terminated (``pg_terminate_backend``) while
requests and tasks are in flight; every other cycle Redis is also flushed
(records, locks, queue, the repositories' state) and the repository is rebuilt
from the object store (``POST /tuf/v1/bootstrap/recovery``, ``tuf/recovery.py``).
After each cycle: every task whose record survived ends, every path TUF lists
has its file with the listed length and sha256, every registry row has its
file, every row marked signed is listed, and ngclient verifies a download.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from tests.e2e.test_crash_consistency import APP, Traffic, run_traffic
from tests.e2e.test_scale_out import cluster as cluster  # the fixture this test uses
from tests.scaleout import Cluster, clients
from tests.support import Api, ceremony
from tufsync.keyholder.verify import verify_download

pytestmark = pytest.mark.slow
CYCLES = 4
BUDGET_SECONDS = 45.0
SETTLE_SECONDS = 60.0


def _dsn(cluster: Cluster) -> str:
    return cluster.env["TUFSYNC_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")


async def _pg(dsn: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def terminate_connections(cluster: Cluster) -> int:
    """Kill every other connection to the service's database; how many."""
    rows = asyncio.run(
        _pg(
            _dsn(cluster),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
    )
    return len(rows)


def registry_rows(cluster: Cluster, admin: str) -> list[tuple[str, int, str, bool]]:
    """The artifact rows of ``admin``'s app (the session's database is shared with the
    other scale-out tests, whose files live in their own clusters' storage)."""
    rows = asyncio.run(
        _pg(_dsn(cluster), "SELECT tuf_path, length, sha256, tuf_signed FROM artifacts")
    )
    prefix = f"{APP}-{admin}/"
    return [(r[0], r[1], r[2], bool(r[3])) for r in rows if str(r[0]).startswith(prefix)]


def listing(public: str, admin: str) -> dict[str, dict[str, Any]]:
    base = f"{public}/tuf_metadata/{admin}/{APP}"
    timestamp = httpx.get(f"{base}/timestamp.json").json()
    snap = timestamp["signed"]["meta"]["snapshot.json"]["version"]
    snapshot = httpx.get(f"{base}/{snap}.snapshot.json").json()
    listed: dict[str, dict[str, Any]] = {}
    for name, meta in snapshot["signed"]["meta"].items():
        role = httpx.get(f"{base}/{meta['version']}.{name}").json()
        listed.update(role["signed"]["targets"])
    return listed


def check(cluster: Cluster, admin: str, root: Path, work: Path) -> dict[str, int]:
    public = cluster.apis[0].public_url
    listed = listing(public, admin)
    for path, info in listed.items():
        data = httpx.get(f"{public}/{path}")
        assert data.status_code == 200, f"TUF lists {path} but its file is missing"
        assert len(data.content) == info["length"], path
        assert hashlib.sha256(data.content).hexdigest() == info["hashes"]["sha256"], path
    rows = registry_rows(cluster, admin)
    for path, length, sha256, signed in rows:
        data = httpx.get(f"{public}/{path}")
        assert data.status_code == 200, f"registry row {path} has no file"
        assert len(data.content) == length, path
        assert hashlib.sha256(data.content).hexdigest() == sha256, path
        if signed:
            assert path in listed, f"row {path} is marked signed but TUF does not list it"
            assert listed[path]["hashes"]["sha256"] == sha256, path
    if listed:
        verify_download(public, admin, APP, root, sorted(listed)[0], work, work / "meta")
    return {"listed": len(listed), "rows": len(rows)}


def settle(api: Api, tasks: list[str]) -> None:
    """Every task whose record survived ends."""
    deadline = time.monotonic() + SETTLE_SECONDS
    for task_id in tasks:
        while True:
            response = api.get("/tuf/v1/task", params={"task_id": task_id})
            if response.status_code == 404:
                break  # its record went with the state store
            assert response.status_code == 200, response.text
            state = response.json()["data"]["state"]
            if state in ("SUCCESS", "FAILURE"):
                break
            assert time.monotonic() < deadline, f"task {task_id} still {state}"
            time.sleep(0.1)


def recover(api: Api) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:  # recovery may wait for a task of the flushed state to give up its lock
        response = api.post("/tuf/v1/bootstrap/recovery", json={"appName": APP, "timeout": 30})
        if response.status_code == 409 and "not required" in response.text:
            return  # a racing request already rebuilt it
        assert response.status_code == 202, response.text
        task = api.wait_task(response.json()["data"]["task_id"], timeout=60)
        if task["state"] == "SUCCESS":
            return
        assert time.monotonic() < deadline, task
        time.sleep(0.5)


class OutageTraffic(Traffic):
    """The same traffic; a 503 (the database unreachable, try again) is an answer too."""

    def _task(self, response: httpx.Response, data: dict[str, Any]) -> None:
        if response.status_code == 503:
            assert response.json()["error"], response.text
            return
        super()._task(response, data)


def _guarded(errors: list[str], *args: Any) -> None:
    """Run the traffic; a 500 answer (never allowed) is kept for the test to report."""
    try:
        run_traffic(*args)
    except AssertionError as exc:
        errors.append(str(exc))


def test_connection_kills_and_redis_flushes_keep_registry_and_tuf_consistent(
    cluster: Cluster, tmp_path: Path
) -> None:
    api = clients(cluster)[0]
    api.http.timeout = httpx.Timeout(30)
    cer = ceremony(cluster.key_dir, api.username, APP)
    api.bootstrap_ok(cer.payload)
    root = tmp_path / "root.json"
    root.write_bytes(cer.root_bytes)
    flush = redis.Redis.from_url(cluster.env["TUFSYNC_REDIS_URL"])
    rng = random.Random(20261207)
    stop, go = threading.Event(), threading.Event()
    traffic = [OutageTraffic(api, seed) for seed in (5, 6)]
    errors: list[str] = []
    threads = [
        threading.Thread(target=_guarded, args=(errors, t, stop, go, f"{i}"), daemon=True)
        for i, t in enumerate(traffic)
    ]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    cycles = flushes = killed = 0
    last: dict[str, int] = {}
    try:
        while cycles < CYCLES and time.monotonic() - began < BUDGET_SECONDS:
            go.set()
            time.sleep(rng.uniform(0.3, 1.5))
            killed += terminate_connections(cluster)  # requests and tasks in flight
            time.sleep(rng.uniform(0.1, 0.5))
            go.clear()
            time.sleep(0.3)  # requests in flight end
            if cycles % 2 == 1:
                flush.flushdb()  # between publishes and removals: records, locks, state
                flushes += 1
                recover(api)
            settle(api, [t for tr in traffic for t in tr.tasks])
            cycles += 1
            last = check(cluster, api.username, root, tmp_path / f"c{cycles}")
    finally:
        stop.set()
        go.set()
        for thread in threads:
            thread.join(timeout=30)
    print(
        f"\nscale-out state-loss cycles: {cycles} ({flushes} flushes, {killed} connections "
        f"killed), requests {sum(t.requests for t in traffic)}, final listing {last}"
    )
    assert errors == []
    assert cycles >= 4 and flushes >= 2
    assert json.dumps(last)
