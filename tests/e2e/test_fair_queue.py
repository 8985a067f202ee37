"""Scale-out fairness for real (API process and workers on Redis + PostgreSQL): one
tenant's backlog never holds up another tenant's task, and the automatic refresh is
never starved by tenants' work: the worker's queues are fair between repositories."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.scaleout import upgrade_database
from tests.support import Api, ServerProcess, ceremony, run_server, start_tufsync, unique_name
from tufsync import tenant_keys
from tufsync.testhooks import ENV as PAUSE_ENV

pytestmark = pytest.mark.slow


@dataclass
class Deployment:
    api: ServerProcess
    env: dict[str, str]

    @property
    def key_dir(self) -> Path:
        return Path(self.env["TUFSYNC_ONLINE_KEY_DIR"])

    def tenant(self, prefix: str) -> Api:
        return Api(self.api, unique_name(prefix))


@contextmanager
def deployment(
    root: Path, pg_url: str, redis_url: str, workers: int, extra: dict[str, str]
) -> Iterator[Deployment]:
    """One API process and ``workers`` workers sharing a local object store."""
    env = {
        "TUFSYNC_REDIS_URL": redis_url,
        "TUFSYNC_DATABASE_URL": pg_url,
        "TUFSYNC_STORAGE_URL": (root / "public").as_uri(),
        "TUFSYNC_ONLINE_KEY_DIR": str(root / "keys"),
        "TUFSYNC_JWT_SECRET": "fair-secret-0123456789abcdef0123456789",
        "TUFSYNC_SIGNUP_KEY": "test-signup-key",
        "TUFSYNC_TASK_REDELIVERY_SECONDS": "3",
        "TUFSYNC_LOG_LEVEL": "warning",
    }
    upgrade_database(env)
    with ExitStack() as stack:
        api = stack.enter_context(run_server(root / "api", env))
        env["TUFSYNC_PUBLIC_URL"] = api.public_url
        procs = [
            start_tufsync("worker", root / f"worker{i}", {**env, **extra}, "worker.log")[0]
            for i in range(workers)
        ]
        try:
            yield Deployment(api, env)
        finally:
            for process in procs:
                process.kill()
                process.wait()


def publish_seconds(api: Api, app: str, version_id: str, version: str) -> float:
    """Seconds from the publish request to its task's SUCCESS."""
    started = time.monotonic()
    response = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": version}
    )
    assert response.status_code == 202, response.text
    task = api.wait_task(response.json()["data"]["task_id"], timeout=120)
    assert task["state"] == "SUCCESS", task
    return time.monotonic() - started


def test_one_tenants_backlog_does_not_hold_up_another_tenant(
    tmp_path: Path, pg_url: str, redis_db: str
) -> None:
    """Tenant A queues 24 forced updates, each holding A's lock for a second; with 2
    workers of 4 slots, the tasks waiting for A's lock used to fill every slot and B's
    one-artifact publish waited behind them (41 s here)."""
    slow = {"TUFSYNC_WORKER_CONCURRENCY": "4", PAUSE_ENV: "force_online_metadata_update:writing=1"}
    with deployment(tmp_path, pg_url, redis_db, 2, slow) as cluster:
        flooder, quiet = cluster.tenant("flood"), cluster.tenant("quiet")
        flooder.bootstrap_ok(ceremony(cluster.key_dir, flooder.username, "busy").payload)
        quiet.bootstrap_ok(ceremony(cluster.key_dir, quiet.username, "calm").payload)
        version_id = quiet.upload_ok("calm", "1.0", {"app.bin": b"one artifact"})
        warm = quiet.upload_ok("calm", "0.9", {"app.bin": b"warm-up"})
        baseline = publish_seconds(quiet, "calm", warm, "0.9")
        flood = []
        for _ in range(24):
            response = flooder.post("/tuf/v1/metadata/online", params={"appName": "busy"})
            assert response.status_code == 200, response.text
            flood.append(response.json()["data"]["task_id"])
        time.sleep(1.0)  # the flood is delivered to the workers
        took = publish_seconds(quiet, "calm", version_id, "1.0")
        print(f"\nB's publish: alone {baseline:.2f} s, under A's flood {took:.2f} s")
        assert took < 3.0, f"B's publish took {took:.1f} s under A's flood"
        states = [flooder.get("/tuf/v1/task", params={"task_id": t}).json() for t in flood]
        finished = sum(s["data"]["state"] == "SUCCESS" for s in states)
        assert finished < len(flood), "the flood ended before B's publish: nothing was shown"


def _timestamp_version(public_url: str, admin: str, app: str) -> int:
    response = httpx.get(f"{public_url}/tuf_metadata/{admin}/{app}/timestamp.json", timeout=10)
    response.raise_for_status()
    return int(response.json()["signed"]["version"])


def test_the_automatic_refresh_is_not_starved_by_busy_slots(
    tmp_path: Path, pg_url: str, redis_db: str
) -> None:
    """Every slot of the worker runs a tenant's long task (4 repositories of one tenant,
    2 slots); another repository's timestamp falls due: its automatic refresh still
    runs at once, in the capacity kept for it."""
    busy = {
        "TUFSYNC_WORKER_CONCURRENCY": "2",
        "TUFSYNC_REFRESH_INTERVAL_SECONDS": "1",
        PAUSE_ENV: "add_artifacts:started=60",
    }
    with deployment(tmp_path, pg_url, redis_db, 1, busy) as cluster:
        tenant, other = cluster.tenant("busy"), cluster.tenant("due")
        apps = [f"app{i}" for i in range(4)]
        for app in apps:
            tenant.bootstrap_ok(ceremony(cluster.key_dir, tenant.username, app).payload)
        other.bootstrap_ok(ceremony(cluster.key_dir, other.username, "due").payload)
        for app in apps:
            vid = tenant.upload_ok(app, "1.0", {"a.bin": app.encode()})
            response = tenant.post(
                "/tuf/v1/artifacts/publish", json={"app_id": vid, "version": "1.0"}
            )
            assert response.status_code == 202, response.text
        time.sleep(1.0)  # every slot now runs a paused publish
        before = _timestamp_version(cluster.api.public_url, other.username, "due")
        store = redis.Redis.from_url(redis_db, decode_responses=True)
        key = tenant_keys.schedule(tenant_keys.TenantRef(other.username, "due"))
        schedule = json.loads(store.get(key) or "{}")
        schedule["expires"]["timestamp"] = time.time() + 120  # due: well inside its margin
        store.set(key, json.dumps(schedule))
        started = time.monotonic()
        while _timestamp_version(cluster.api.public_url, other.username, "due") == before:
            waited = time.monotonic() - started
            assert waited < 15, "the automatic refresh waited behind the tenant's tasks"
            time.sleep(0.1)
        print(f"\nautomatic refresh with every slot busy: {time.monotonic() - started:.2f} s")
