"""Redeliveries without a crash: how often live workers' messages are delivered again.

Run: python -m bench.redelivery [--publishes 60] [--redelivery 3]
One API process and 2 live workers (nobody is killed) with
TUFSYNC_TASK_REDELIVERY_SECONDS as given (3, as the scale-out tests use); the
publishes of one repository are fired from 16 threads. While they run, the
consumer group's pending entries are sampled every 0.2 s; printed: the time to
the last SUCCESS, how many messages were delivered more than once and the
extra deliveries in all (each one a task run again by another worker, waiting
for the first one's lease).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import redis
from tests.scaleout import REDIS_BASE, TEST_REDIS_DB, _admin
from tests.support import Api, ceremony, run_server, start_tufsync, unique_name

from bench.fairness import cluster_env
from tufsync.tasks.queue import GROUP_NAME, QUEUE_NAME


def sample(client: redis.Redis, stop: threading.Event, seen: dict[str, int]) -> None:
    while not stop.is_set():
        try:
            entries = client.xpending_range(QUEUE_NAME, GROUP_NAME, "-", "+", 10000)
        except redis.ResponseError:
            entries = []
        for entry in entries:
            key = str(entry["message_id"])
            seen[key] = max(seen.get(key, 0), int(entry["times_delivered"]))
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publishes", type=int, default=60)
    parser.add_argument("--redelivery", type=float, default=3.0)
    args = parser.parse_args()
    redis_url = f"{REDIS_BASE}/{TEST_REDIS_DB}"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    db = f"bench_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{db}"')
    try:
        with tempfile.TemporaryDirectory() as raw, ExitStack() as stack:
            tmp = Path(raw)
            env = cluster_env(tmp, db, redis_url)
            env["TUFSYNC_TASK_REDELIVERY_SECONDS"] = str(args.redelivery)
            subprocess.run(
                [sys.executable, "-m", "tufsync", "db", "upgrade"],
                env={**os.environ, **env},
                check=True,
                capture_output=True,
            )
            server = stack.enter_context(run_server(tmp / "api", env))
            procs = [start_tufsync("worker", tmp / f"w{i}", env, "w.log")[0] for i in range(2)]
            stack.callback(lambda: [p.kill() for p in procs])
            api = Api(server, unique_name("r"))
            api.bootstrap_ok(ceremony(tmp / "keys", api.username, "app").payload)
            jobs = [
                (api.upload_ok("app", f"1.{i}", {"p.bin": b"x" * 1000 + b"%d" % i}), f"1.{i}")
                for i in range(args.publishes)
            ]
            seen: dict[str, int] = {}
            stop = threading.Event()
            sampler = threading.Thread(target=sample, args=(client, stop, seen))
            sampler.start()

            def fire(job: tuple[str, str]) -> str:
                body = {"app_id": job[0], "version": job[1]}
                answer = api.post("/tuf/v1/artifacts/publish", json=body).json()
                return str(answer["data"]["task_id"])

            started = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                task_ids = list(pool.map(fire, jobs))
            states = [api.wait_task(t, timeout=600)["state"] for t in task_ids]
            elapsed = time.perf_counter() - started
            stop.set()
            sampler.join()
            again = [n for n in seen.values() if n > 1]
            print(
                f"{args.publishes} publishes, redelivery {args.redelivery:g} s: all ended in "
                f"{elapsed:.1f} s ({states.count('SUCCESS')} SUCCESS); messages delivered more "
                f"than once: {len(again)}, extra deliveries: {sum(n - 1 for n in again)}"
            )
            client.flushdb()
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
