"""Fairness between tenants in scale-out: B's one-artifact publish under A's flood.

Run: python -m bench.fairness [--bins 2048] [--flood 40 48] [--workers 2]
Starts one API process and N workers (default concurrency) on Redis (the
database of TUFSYNC_TEST_REDIS_DB, flushed), a fresh PostgreSQL database and a
local object store. Tenant A bootstraps a repository with ``--bins`` hash bins;
tenant B one plain repository. For each flood size, A queues that many forced
online updates from 16 client threads (POST /tuf/v1/metadata/online: new
snapshot and timestamp of the big repository), then B publishes one artifact.
Printed: B's publish time from request to SUCCESS, alone and under the flood,
and how long A's flood took.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import redis
from tests.scaleout import REDIS_BASE, TEST_REDIS_DB, _admin, upgrade_database
from tests.support import Api, ceremony, run_server, start_tufsync, unique_name

from bench.harness import time_publish


def cluster_env(tmp: Path, db: str, redis_url: str) -> dict[str, str]:
    return {
        "TUFSYNC_REDIS_URL": redis_url,
        "TUFSYNC_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db}",
        "TUFSYNC_STORAGE_URL": (tmp / "public").as_uri(),
        "TUFSYNC_ONLINE_KEY_DIR": str(tmp / "keys"),
        "TUFSYNC_JWT_SECRET": "bench-secret-0123456789abcdef0123456789",
        "TUFSYNC_SIGNUP_KEY": "test-signup-key",
        "TUFSYNC_LOG_LEVEL": "warning",
    }


def flood_then_publish(flooder: Api, quiet: Api, size: int, round_no: int) -> None:
    def force(_: int) -> str:
        response = flooder.post("/tuf/v1/metadata/online", params={"appName": "big"})
        return str(response.json()["data"]["task_id"])

    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        flood = list(pool.map(force, range(size)))
    queued = time.perf_counter() - started
    took = time_publish(quiet, "small", f"2.{round_no}", f"under flood {size}".encode())
    for task_id in flood:
        assert flooder.wait_task(task_id, timeout=300)["state"] == "SUCCESS"
    drained = time.perf_counter() - started
    print(
        f"  A floods {size:3d} forced updates (queued in {queued:5.2f} s, done after "
        f"{drained:6.1f} s): B's publish {took:6.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bins", type=int, default=2048)
    parser.add_argument("--flood", type=int, nargs="*", default=[40, 48, 160])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    redis_url = f"{REDIS_BASE}/{TEST_REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    db = f"bench_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{db}"')
    try:
        with tempfile.TemporaryDirectory() as raw, ExitStack() as stack:
            tmp = Path(raw)
            env = cluster_env(tmp, db, redis_url)
            upgrade_database(env)
            server = stack.enter_context(run_server(tmp / "api", env))
            procs = [
                start_tufsync("worker", tmp / f"w{i}", env, "w.log")[0] for i in range(args.workers)
            ]
            stack.callback(lambda: [p.kill() for p in procs])
            flooder, quiet = Api(server, unique_name("a")), Api(server, unique_name("b"))
            cer = ceremony(tmp / "keys", flooder.username, "big", hash_bins=args.bins)
            flooder.bootstrap_ok({**cer.payload, "timeout": 3600})
            quiet.bootstrap_ok(ceremony(tmp / "keys", quiet.username, "small").payload)
            alone = [time_publish(quiet, "small", f"1.{i}", b"alone %d" % i) for i in range(3)]
            print(
                f"{args.workers} worker(s), A's repository {args.bins} bins; "
                f"B's publish alone: {', '.join(f'{t:.2f}' for t in alone)} s"
            )
            for round_no, size in enumerate(args.flood):
                flood_then_publish(flooder, quiet, size, round_no)
            redis.Redis.from_url(redis_url).flushdb()
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
