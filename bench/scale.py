"""Scale-out throughput: publishes/s with 1, 2 and 4 workers; read latency under load.

Run: python -m bench.scale [--publishes 400] [--apps 16]
Each run starts a fresh cluster on Redis (db 10), a fresh PostgreSQL database
and a local object store shared by the processes: one API process and N
workers. It fires the publishes with 16 client threads and times from the
first request to the last task SUCCESS. Then 200 concurrent readers hit
GET /tuf/v1/metadata/targets and GET /tuf/v1/task; median and p95 are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis
from tests.scaleout import _admin, upgrade_database
from tests.support import Api, ceremony, run_server, start_tufsync, unique_name

from bench.harness import percentile

REDIS_URL = "redis://127.0.0.1:6379/10"


def cluster_env(tmp: Path, db: str) -> dict[str, str]:
    return {
        "TUFSYNC_REDIS_URL": REDIS_URL,
        "TUFSYNC_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db}",
        "TUFSYNC_STORAGE_URL": (tmp / "public").as_uri(),
        "TUFSYNC_ONLINE_KEY_DIR": str(tmp / "keys"),
        "TUFSYNC_JWT_SECRET": "bench-secret-0123456789abcdef0123456789",
        "TUFSYNC_SIGNUP_KEY": "test-signup-key",
        "TUFSYNC_LOG_LEVEL": "warning",
    }


def run_one(workers: int, publishes: int, apps: int, readers: bool) -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    db = f"bench_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{db}"')
    try:
        with tempfile.TemporaryDirectory() as raw, ExitStack() as stack:
            tmp = Path(raw)
            env = cluster_env(tmp, db)
            upgrade_database(env)
            server = stack.enter_context(run_server(tmp / "api", env))
            procs = [
                start_tufsync("worker", tmp / f"w{i}", env, "w.log")[0] for i in range(workers)
            ]
            stack.callback(lambda: [p.kill() for p in procs])
            api = Api(server, unique_name("bench"))
            names = [f"app{i}" for i in range(apps)]
            for name in names:
                api.bootstrap_ok(ceremony(tmp / "keys", api.username, name).payload)
            jobs = []
            for i in range(publishes):
                name, version = names[i % apps], f"1.{i}"
                jobs.append((api.upload_ok(name, version, {"p.bin": f"{i}".encode()}), version))

            def fire(job: tuple[str, str]) -> str:
                r = api.post(
                    "/tuf/v1/artifacts/publish", json={"app_id": job[0], "version": job[1]}
                )
                return str(r.json()["data"]["task_id"])

            start = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                task_ids = list(pool.map(fire, jobs))
            states = [api.wait_task(t, timeout=600)["state"] for t in task_ids]
            elapsed = time.perf_counter() - start
            ok = states.count("SUCCESS")
            print(
                f"{workers} worker(s): {publishes} publishes over {apps} apps in {elapsed:6.2f} s"
                f" = {publishes / elapsed:7.1f} publishes/s  ({ok} SUCCESS)"
            )
            if readers:
                read_latency(server.url, api.http.headers["Authorization"], names, task_ids)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def read_latency(url: str, auth: str, names: list[str], task_ids: list[str]) -> None:
    async def main() -> None:
        latencies: dict[str, list[float]] = {"metadata/targets": [], "task": []}
        errors = 0
        async with httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": auth},
            timeout=60,
            limits=httpx.Limits(max_connections=200),
        ) as client:

            async def reader(i: int) -> None:
                nonlocal errors
                for j in range(10):
                    if j % 2:
                        kind, path = "task", "/tuf/v1/task"
                        params = {"task_id": task_ids[(i + j) % len(task_ids)]}
                    else:
                        kind, path = "metadata/targets", "/tuf/v1/metadata/targets"
                        params = {"appName": names[(i + j) % len(names)]}
                    t0 = time.perf_counter()
                    r = await client.get(path, params=params)
                    latencies[kind].append(time.perf_counter() - t0)
                    errors += r.status_code != 200

            await asyncio.gather(*(reader(i) for i in range(200)))
        for kind, values in latencies.items():
            median_ms = statistics.median(values) * 1000
            p95_ms = percentile(values, 95) * 1000
            print(
                f"   200 concurrent readers, GET {kind:17}: median {median_ms:7.1f} ms"
                f"  p95 {p95_ms:7.1f} ms  (n={len(values)})"
            )
        print(f"   errors: {errors}")

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publishes", type=int, default=400)
    parser.add_argument("--apps", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    args = parser.parse_args()
    for i, count in enumerate(args.workers):
        run_one(count, args.publishes, args.apps, readers=i == len(args.workers) - 1)


if __name__ == "__main__":
    main()
