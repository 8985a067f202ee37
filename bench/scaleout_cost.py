"""Server CPU per published artifact in scale-out (1 API process + 1 worker).

Run: python -m bench.scaleout_cost [--publishes 1000] [--redis-db 7]

A fresh PostgreSQL database, a Redis database (flushed), a local object store
shared by both processes. One app is bootstrapped and every one-artifact
version uploaded beforehand; then 16 client threads each publish one version,
poll ``GET /tuf/v1/task`` every 250 ms until SUCCESS, and take the next. CPU
is utime+stime from ``/proc/<pid>/stat`` of the API and the worker process
(all threads), from the first publish to the last SUCCESS, divided by the
number of artifacts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from tests.scaleout import _admin
from tests.support import Api, ceremony, run_server, start_tufsync, unique_name

CLK_TCK = os.sysconf("SC_CLK_TCK")
IN_FLIGHT = 16
POLL_SECONDS = 0.25


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Cluster:
    api: Api
    pids: dict[str, int]


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


@contextmanager
def scale_out_cluster(redis_url: str) -> Iterator[tuple[Cluster, Path]]:
    """One API process and one worker on a fresh database and a flushed Redis db."""
    redis.Redis.from_url(redis_url).flushdb()
    db = f"bench_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{db}"')
    try:
        with tempfile.TemporaryDirectory() as raw, ExitStack() as stack:
            tmp = Path(raw)
            env = cluster_env(tmp, db, redis_url)
            subprocess.run(
                [sys.executable, "-m", "tufsync", "db", "upgrade"],
                env={**os.environ, **env},
                check=True,
                capture_output=True,
            )
            server = stack.enter_context(run_server(tmp / "api", env))
            worker, _ = start_tufsync("worker", tmp / "w0", env, "w.log")
            stack.callback(worker.wait)
            stack.callback(worker.kill)
            api = Api(server, unique_name("bench"))
            yield Cluster(api, {"api": server.process.pid, "worker": worker.pid}), tmp
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def publish_and_wait(api: Api, version_id: str, version: str) -> tuple[float, int]:
    """Publish one version, poll until SUCCESS; (seconds to SUCCESS seen, polls)."""
    start = time.perf_counter()
    polls = 0
    response = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": version}
    )
    assert response.status_code == 202, response.text
    task_id = response.json()["data"]["task_id"]
    while True:
        time.sleep(POLL_SECONDS)
        polls += 1
        state = api.get("/tuf/v1/task", params={"task_id": task_id}).json()["data"]["state"]
        if state == "SUCCESS":
            return time.perf_counter() - start, polls
        if state == "FAILURE":
            raise RuntimeError(f"publish task {task_id} failed")


def run(publishes: int, redis_url: str, pause: float) -> None:
    with scale_out_cluster(redis_url) as (cluster, tmp):
        api = cluster.api
        app = "costapp"
        api.bootstrap_ok(ceremony(tmp / "keys", api.username, app).payload)
        jobs = [
            (api.upload_ok(app, f"1.{i}", {"a.bin": f"artifact {i}".encode()}), f"1.{i}")
            for i in range(publishes)
        ]
        if pause:
            print(f"pids {cluster.pids}; starting in {pause:g} s", flush=True)
            time.sleep(pause)
        before = {name: cpu_seconds(pid) for name, pid in cluster.pids.items()}
        start = time.perf_counter()
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            results = list(pool.map(lambda job: publish_and_wait(api, *job), jobs))
        elapsed = time.perf_counter() - start
        used = {name: cpu_seconds(pid) - before[name] for name, pid in cluster.pids.items()}
        total = sum(used.values())
        parts = ", ".join(f"{n} {s * 1000 / publishes:.2f}" for n, s in used.items())
        print(
            f"scale-out publish run: {publishes} artifacts in {elapsed:.1f} s; server CPU "
            f"{total * 1000 / publishes:.2f} ms/artifact ({parts})"
        )
        latencies = [seconds for seconds, _ in results]
        polls = sum(p for _, p in results) / publishes
        print(
            f"   publish -> SUCCESS seen: median {statistics.median(latencies) * 1000:.0f} ms;"
            f" {polls:.2f} polls per artifact"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publishes", type=int, default=1000)
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("BENCH_REDIS_DB", 7)))
    parser.add_argument("--pause", type=float, default=0.0, help="seconds before the run")
    args = parser.parse_args()
    run(args.publishes, f"redis://127.0.0.1:6379/{args.redis_db}", args.pause)


if __name__ == "__main__":
    main()
