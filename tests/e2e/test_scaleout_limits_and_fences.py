"""Scale-out (two API processes and a worker on PostgreSQL and Redis): login limits
shared by the API processes, and fence counters that do not outlive their tasks.

- An address that logged in to a username through one API process stays able to
  log in through the other while other addresses fail on that username.
- The fencing-token counter of each task's lease (``fence:lease:<task>``) has a
  time to live once the task has ended, as has every other fence counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.scaleout import upgrade_database
from tests.support import (
    PASSWORD,
    SIGNUP_KEY,
    Api,
    ServerProcess,
    ceremony,
    run_server,
    start_tufsync,
    unique_name,
)

pytestmark = pytest.mark.slow
FENCE_RETENTION = 7 * 24 * 3600  # tufsync.state.redis.FENCE_RETENTION


@dataclass
class Pair:
    apis: list[ServerProcess]
    env: dict[str, str]


@pytest.fixture
def pair(tmp_path: Path, pg_url: str, redis_db: str) -> Iterator[Pair]:
    env = {
        "TUFSYNC_REDIS_URL": redis_db,
        "TUFSYNC_DATABASE_URL": pg_url,
        "TUFSYNC_STORAGE_URL": (tmp_path / "public").as_uri(),
        "TUFSYNC_ONLINE_KEY_DIR": str(tmp_path / "keys"),
        "TUFSYNC_JWT_SECRET": "limits-fences-secret-0123456789abcdef012345",
        "TUFSYNC_SIGNUP_KEY": SIGNUP_KEY,
        "TUFSYNC_LOGIN_LIMIT_PER_CLIENT": "30/minute",
        "TUFSYNC_LOGIN_LIMIT_PER_USERNAME": "10/minute",
        "TUFSYNC_LOG_LEVEL": "warning",
    }
    (tmp_path / "public").mkdir()
    upgrade_database(env)
    with ExitStack() as stack:
        apis = [stack.enter_context(run_server(tmp_path / f"api{i}", env)) for i in range(2)]
        worker, _ = start_tufsync("worker", tmp_path / "worker", env, "worker.log")
        try:
            yield Pair(apis, env)
        finally:
            worker.terminate()
            worker.wait(timeout=15)


def login(server: ServerProcess, address: str, username: str, password: str) -> int:
    response = httpx.post(
        f"{server.url}/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},  # uvicorn trusts it from loopback
        timeout=60,
    )
    return response.status_code


def test_owner_keeps_logging_in_through_every_process(pair: Pair) -> None:
    a, b = pair.apis
    owner = unique_name()
    body = {"username": owner, "password": PASSWORD, "api_key": SIGNUP_KEY}
    assert httpx.post(f"{a.url}/signup", json=body, timeout=60).status_code == 200
    assert login(a, "203.0.113.5", owner, PASSWORD) == 200  # familiar, learnt by A
    codes = [login(b, f"198.51.100.{i % 3}", owner, "wrong-password") for i in range(11)]
    assert codes == [401] * 10 + [429], codes  # the failures counted across processes
    assert login(b, "203.0.113.5", owner, PASSWORD) == 200  # B knows the owner's place
    assert login(a, "192.0.2.44", owner, PASSWORD) == 429  # a new place waits


def test_fence_counters_of_finished_tasks_expire(pair: Pair, tmp_path: Path) -> None:
    api = Api(pair.apis[0], unique_name())
    cer = ceremony(Path(pair.env["TUFSYNC_ONLINE_KEY_DIR"]), api.username, "app")
    api.bootstrap_ok(cer.payload)
    version_id = api.upload_ok("app", "1.0", {"pkg.bin": b"fenced"})
    api.publish_ok(version_id, "1.0")
    client = redis.Redis.from_url(pair.env["TUFSYNC_REDIS_URL"], decode_responses=True)
    try:
        fences = sorted(client.scan_iter(match="fence:*"))
        leases = [k for k in fences if k.startswith("fence:lease:")]
        assert len(leases) >= 2, fences  # the bootstrap's and the publish's
        ttls = {key: client.ttl(key) for key in fences}
        # -1 would mean a counter without expiry, one more per task, forever.
        assert all(FENCE_RETENTION - 300 < ttl <= FENCE_RETENTION for ttl in ttls.values()), ttls
    finally:
        client.close()
