"""Publishes in scale-out while PostgreSQL keeps terminating tufsync's connections.

Run: python -m bench.db_kills [--publishes 150] [--interval 0.25] [--redis-db 10]
Starts one ``tufsync serve`` and one ``tufsync worker`` on a fresh PostgreSQL
database, the given Redis database (flushed) and a local public directory;
bootstraps an app, uploads ``--publishes`` versions, then publishes them one
request each while ``pg_terminate_backend`` ends every connection to that
database each ``--interval`` seconds. Prints how the publish tasks ended:
``SUCCESS`` (with ``+warning`` when the registry could not record it),
``FAILURE+unlisted`` (nothing published) and ``FAILURE+listed``: a task that
failed although its path is listed in the published metadata, which must not
happen (a published change is reported done).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis
from tests.scaleout import upgrade_database
from tests.support import SIGNUP_KEY, Api, ceremony, run_server, start_tufsync, unique_name

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _admin(sql: str, *args: object) -> list[Any]:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _killer(database: str, interval: float, stop: threading.Event, killed: list[int]) -> None:
    sql = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()"
    )

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            while not stop.is_set():
                killed[0] += len(await conn.fetch(sql, database))
                await asyncio.sleep(interval)
        finally:
            await conn.close()

    asyncio.run(run())


def _listed(public: Path, admin: str) -> set[str]:
    """Every target path in the newest version of each targets-type role file."""
    newest: dict[str, tuple[int, Path]] = {}
    for file in (public / "tuf_metadata" / admin / "app").glob("*.json"):
        version, _, rest = file.name.partition(".")
        role = rest.removesuffix(".json")
        online = role in ("root", "snapshot", "timestamp")
        if version.isdigit() and not online and int(version) >= newest.get(role, (0, file))[0]:
            newest[role] = (int(version), file)
    listed: set[str] = set()
    for _, file in newest.values():
        listed |= set(json.loads(file.read_text())["signed"].get("targets", {}))
    return listed


def _task(api: Api, task_id: str, seconds: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = api.get("/tuf/v1/task", params={"task_id": task_id})
            data: dict[str, Any] = response.json()["data"] if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError, KeyError):
            data = {}
        if data.get("state") in ("SUCCESS", "FAILURE"):
            return data
        time.sleep(0.1)
    return {"state": "UNFINISHED"}


def run(publishes: int, interval: float, redis_db: int) -> dict[str, Any]:
    database = f"tufsync_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    redis.Redis.from_url(redis_url).flushdb()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return _measure(Path(tmp), database, redis_url, publishes, interval)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def _measure(
    root: Path, database: str, redis_url: str, publishes: int, interval: float
) -> dict[str, Any]:
    env = {
        "TUFSYNC_REDIS_URL": redis_url,
        "TUFSYNC_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "TUFSYNC_STORAGE_URL": (root / "public").as_uri(),
        "TUFSYNC_ONLINE_KEY_DIR": str(root / "keys"),
        "TUFSYNC_JWT_SECRET": "bench-db-kills-secret-0123456789abcdef0123",
        "TUFSYNC_SIGNUP_KEY": SIGNUP_KEY,
        "TUFSYNC_LOG_LEVEL": "warning",
        "TUFSYNC_TASK_REDELIVERY_SECONDS": "5",
    }
    (root / "public").mkdir()
    upgrade_database(env)
    stop, killed = threading.Event(), [0]
    with run_server(root / "api", env) as server:
        worker, _ = start_tufsync("worker", root / "worker", env, "worker.log")
        try:
            api = Api(server, unique_name())
            api.bootstrap_ok(ceremony(root / "keys", api.username, "app").payload)
            versions = [f"1.{i}" for i in range(publishes)]
            ids = [api.upload_ok("app", v, {"pkg.bin": v.encode()}) for v in versions]
            killer = threading.Thread(target=_killer, args=(database, interval, stop, killed))
            killer.start()
            tasks: dict[str, str] = {}
            for version, version_id in zip(versions, ids, strict=True):
                for _ in range(20):  # the accept step itself may meet a killed connection
                    try:
                        response = api.post(
                            "/tuf/v1/artifacts/publish",
                            json={"app_id": version_id, "version": version},
                        )
                    except httpx.HTTPError:
                        response = None
                    if response is not None and response.status_code == 202:
                        path = f"app-{api.username}/app-{version}.bin"
                        tasks[path] = response.json()["data"]["task_id"]
                        break
                    time.sleep(0.1)
            ended = {path: _task(api, task_id) for path, task_id in tasks.items()}
            stop.set()
            killer.join()
            listed = _listed(root / "public", api.username)
        finally:
            stop.set()
            worker.terminate()
            worker.wait(timeout=15)
    outcomes: Counter[str] = Counter()
    for path, task in ended.items():
        key = task["state"]
        if key == "FAILURE":
            key += "+listed" if path in listed else "+unlisted"
        if key == "SUCCESS" and ((task.get("result") or {}).get("details") or {}).get("warning"):
            key += "+warning"
        outcomes[key] += 1
    return {
        "publishes": publishes,
        "accepted": len(tasks),
        "connections_killed": killed[0],
        "outcomes": dict(outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishes", type=int, default=150)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument(
        "--redis-db", type=int, default=int(os.environ.get("TUFSYNC_TEST_REDIS_DB", "9"))
    )
    args = parser.parse_args()
    print(json.dumps(run(args.publishes, args.interval, args.redis_db), indent=1))


if __name__ == "__main__":
    main()
