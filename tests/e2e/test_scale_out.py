"""Scale-out mode for real: 2 API processes and 2 workers on Redis, PostgreSQL and S3 (moto)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from tests.e2e.test_crash_consistency import APP, Traffic, run_traffic
from tests.scaleout import Cluster, S3Endpoint, clients, running_cluster
from tests.support import (
    Api,
    ceremony,
    start_tufsync,
)
from tufsync.keyholder.verify import verify_download
from tufsync.testhooks import ENV as PAUSE_ENV

pytestmark = pytest.mark.slow
APPS = ("alpha", "beta", "gamma", "delta")


@pytest.fixture
def cluster(tmp_path: Path, s3: S3Endpoint, pg_url: str, redis_db: str) -> Iterator[Cluster]:
    with running_cluster(tmp_path, s3, pg_url, redis_db) as started:
        yield started


def submit_publish(api: Api, version_id: str, version: str) -> str:
    response = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": version}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["data"]["task_id"])


def test_concurrent_publishes_across_processes(cluster: Cluster, tmp_path: Path) -> None:
    api = clients(cluster)
    roots = {}
    for app in APPS:
        cer = ceremony(cluster.key_dir, api[0].username, app)
        api[0].bootstrap_ok(cer.payload)
        roots[app] = cer.root_bytes
    uploads = []
    for i in range(200):
        app = APPS[i % 4]
        version = f"1.{i}"
        vid = api[i % 2].upload_ok(app, version, {"pkg.bin": f"{app} {version}".encode()})
        uploads.append((app, version, vid))
    with ThreadPoolExecutor(16) as pool:
        task_ids = list(
            pool.map(
                lambda item: submit_publish(api[item[0] % 2], item[1][2], item[1][1]),
                enumerate(uploads),
            )
        )
    for task_id in task_ids:
        assert api[0].wait_task(task_id, timeout=180)["state"] == "SUCCESS"
    for app in APPS:
        delegated = (
            api[1]
            .get("/tuf/v1/metadata/delegated", params={"appName": app, "roleName": "default"})
            .json()["data"]["trusted_delegated"]
        )
        assert len(delegated["signed"]["targets"]) == 50
        # Merged writes: fewer metadata versions than publishes.
        assert delegated["signed"]["version"] <= 51
        trusted = tmp_path / f"{app}.json"
        trusted.write_bytes(roots[app])
        sample = next(iter(delegated["signed"]["targets"]))
        verify_download(
            cluster.apis[0].public_url, api[0].username, app, trusted, sample, tmp_path / app
        )

    # Redis loses everything: recovery rebuilds the app's state from S3.
    config_before = api[0].get("/tuf/v1/config", params={"appName": "alpha"}).json()
    redis.Redis.from_url(cluster.env["TUFSYNC_REDIS_URL"]).flushdb()
    assert api[0].get("/tuf/v1/config", params={"appName": "alpha"}).status_code == 404
    response = api[1].post("/tuf/v1/bootstrap/recovery", json={"appName": "alpha", "timeout": 30})
    assert response.status_code == 202, response.text
    assert api[0].wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert api[0].get("/tuf/v1/config", params={"appName": "alpha"}).json() == config_before
    vid = api[0].upload_ok("alpha", "9.0", {"pkg.bin": b"after flush"})
    api[0].publish_ok(vid, "9.0")
    verify_download(
        cluster.apis[0].public_url,
        api[0].username,
        "alpha",
        tmp_path / "alpha.json",
        f"alpha-{api[0].username}/alpha-9.0.bin",
        tmp_path / "after",
    )


def test_worker_crash_loses_no_task(cluster: Cluster, tmp_path: Path) -> None:
    api = clients(cluster)
    cer = ceremony(cluster.key_dir, api[0].username, "crash")
    api[0].bootstrap_ok(cer.payload)
    trusted = tmp_path / "root.json"
    trusted.write_bytes(cer.root_bytes)
    versions = [
        (api[0].upload_ok("crash", f"2.{i}", {"pkg.bin": f"crash {i}".encode() * 1000}), f"2.{i}")
        for i in range(60)
    ]
    stop = threading.Event()
    failures: list[str] = []

    def watch() -> None:
        # At every moment the public repository is one that ngclient accepts.
        n = 0
        while not stop.is_set():
            n += 1
            try:
                verify_download(
                    cluster.apis[0].public_url,
                    api[0].username,
                    "crash",
                    trusted,
                    f"crash-{api[0].username}/crash-2.0.bin",
                    tmp_path / f"w{n}",
                    tmp_path / f"m{n}",
                )
            except Exception as exc:
                if "not in the trusted metadata" not in str(exc):
                    failures.append(repr(exc))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    task_ids = [submit_publish(api[i % 2], vid, ver) for i, (vid, ver) in enumerate(versions)]
    time.sleep(0.3)
    victim = cluster.workers[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    cluster.start_worker("worker-restarted")
    states = [api[0].wait_task(t, timeout=120)["state"] for t in task_ids]
    stop.set()
    watcher.join()
    assert set(states) <= {"SUCCESS", "FAILURE"}
    assert states.count("SUCCESS") == len(states), states
    assert failures == []
    delegated = (
        api[0]
        .get("/tuf/v1/metadata/delegated", params={"appName": "crash", "roleName": "default"})
        .json()["data"]["trusted_delegated"]
    )
    assert len(delegated["signed"]["targets"]) == 60
    assert json.dumps(delegated)


def _wait_in_log(log: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in (log.read_text(errors="replace") if log.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} not in {log}"
        time.sleep(0.05)


def test_sigkilled_worker_tasks_are_taken_over(cluster: Cluster, tmp_path: Path) -> None:
    """Scale-out: a worker SIGKILLed inside a bootstrap and inside a
    publish batch; a fresh worker takes both over by redelivery within seconds."""
    pause = "bootstrap:writing=120,add_artifacts:writing=120"
    api = clients(cluster)
    cer = ceremony(cluster.key_dir, api[0].username, "taken")
    trusted = tmp_path / "root.json"
    trusted.write_bytes(cer.root_bytes)
    timings = {}
    for kind in ("bootstrap", "add_artifacts"):
        for worker in cluster.workers:  # only the paused worker may take the task
            worker.kill()
            worker.wait()
        cluster.workers.clear()
        paused, log = start_tufsync(
            "worker", tmp_path / f"paused-{kind}", {**cluster.env, PAUSE_ENV: pause}, "worker.log"
        )
        cluster.workers.append(paused)
        if kind == "bootstrap":
            response = api[0].post("/tuf/v1/bootstrap", json=cer.payload)
        else:
            vid = api[0].upload_ok("taken", "1.0", {"pkg.bin": b"taken over"})
            response = api[1].post(
                "/tuf/v1/artifacts/publish", json={"app_id": vid, "version": "1.0"}
            )
        assert response.status_code in (200, 202), response.text
        task_id = response.json()["data"]["task_id"]
        _wait_in_log(log, f"test pause at {kind}:writing")
        paused.send_signal(signal.SIGKILL)
        paused.wait()
        started = time.monotonic()
        cluster.start_worker(f"fresh-{kind}")
        task = api[1].wait_task(task_id, timeout=60)
        timings[kind] = time.monotonic() - started
        assert task["state"] == "SUCCESS", task
    print(f"\nscale-out takeover after SIGKILL (new worker start -> SUCCESS): {timings}")
    verify_download(
        cluster.apis[0].public_url,
        api[0].username,
        "taken",
        trusted,
        f"taken-{api[0].username}/taken-1.0.bin",
        tmp_path / "dl",
    )


def _cluster_consistent(cluster: Cluster, api: Api, trusted: Path, work: Path) -> dict[str, int]:
    """Every path TUF lists has its file (length, sha256); every registry row has its
    file; ngclient refreshes and downloads."""
    public = cluster.apis[0].public_url
    http = httpx.Client(base_url=public, timeout=30)
    base = f"/tuf_metadata/{api.username}/{APP}"
    timestamp = http.get(f"{base}/timestamp.json").json()
    snapshot = http.get(
        f"{base}/{timestamp['signed']['meta']['snapshot.json']['version']}.snapshot.json"
    ).json()
    listed: dict[str, Any] = {}
    for name, meta in snapshot["signed"]["meta"].items():
        listed.update(http.get(f"{base}/{meta['version']}.{name}").json()["signed"]["targets"])

    def file_ok(path: str, length: int, sha256: str) -> None:
        response = http.get(f"/{path}")
        assert response.status_code == 200, f"{path} has no file"
        assert len(response.content) == length, path
        assert hashlib.sha256(response.content).hexdigest() == sha256, path

    for path, info in listed.items():
        file_ok(path, info["length"], info["hashes"]["sha256"])
    dsn = cluster.env["TUFSYNC_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")

    async def rows() -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(
                await conn.fetch(
                    "SELECT tuf_path, length, sha256 FROM artifacts WHERE tuf_path LIKE $1",
                    f"{APP}-{api.username}/%",
                )
            )
        finally:
            await conn.close()

    found = asyncio.run(rows())
    for row in found:
        file_ok(row["tuf_path"], row["length"], row["sha256"])
    if listed:
        verify_download(public, api.username, APP, trusted, sorted(listed)[0], work, work / "meta")
    return {"listed": len(listed), "rows": len(found)}


def test_random_worker_sigkills_keep_everything_consistent(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Crash consistency in scale-out: workers SIGKILLed at random moments during mixed
    traffic through both API processes; checked after each restart."""
    api = clients(cluster)
    cer = ceremony(cluster.key_dir, api[0].username, APP)
    api[0].bootstrap_ok(cer.payload)
    trusted = tmp_path / "root.json"
    trusted.write_bytes(cer.root_bytes)
    rng = random.Random(7)
    stop, go = threading.Event(), threading.Event()
    traffic = [Traffic(a, seed) for seed, a in enumerate(api)]
    threads = [
        threading.Thread(target=run_traffic, args=(t, stop, go, f"s{i}"), daemon=True)
        for i, t in enumerate(traffic)
    ]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    settle: list[float] = []
    cycles = 0
    last: dict[str, int] = {}
    try:
        while cycles < 6 and time.monotonic() - began < 150:
            go.set()
            time.sleep(rng.uniform(0.5, 2.0))
            victim = cluster.workers.pop(rng.randrange(len(cluster.workers)))
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            cluster.start_worker(f"w{cycles}")
            time.sleep(rng.uniform(0.2, 1.0))
            go.clear()
            time.sleep(0.5)
            started = time.monotonic()
            for t in traffic:
                for task_id in list(t.tasks):
                    api[0].wait_task(task_id, timeout=60)
            settle.append(time.monotonic() - started)
            cycles += 1
            last = _cluster_consistent(cluster, api[0], trusted, tmp_path / f"c{cycles}")
    finally:
        stop.set()
        go.set()
        for thread in threads:
            thread.join(timeout=15)
    print(
        f"\nscale-out crash cycles: {cycles} in {time.monotonic() - began:.1f}s, "
        f"requests {sum(t.requests for t in traffic)}, tasks {sum(len(t.tasks) for t in traffic)}, "
        f"final {last}, all tasks ended after traffic stop: max {max(settle):.1f}s"
    )
    assert cycles >= 3
