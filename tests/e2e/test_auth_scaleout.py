"""Cached sign-in answers in scale-out: two API processes on one PostgreSQL and Redis.

A token is used on process B (so B caches it), then the account or token is
changed through process A or by SQL, and B must refuse the token on the next
request. The bound is the delivery of PostgreSQL's notification to B (sub-
millisecond here); the tests give it 50 ms. While B's listening connection is
down, B reads the database on every request, so a change made then is seen too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.e2e.test_observability_scaleout import wait_up
from tests.scaleout import upgrade_database
from tests.support import PASSWORD, SIGNUP_KEY, ServerProcess, free_port, start_tufsync, unique_name
from tufsync.auth.epoch import LISTENER_NAME

pytestmark = pytest.mark.slow
NOTIFY_BOUND = 0.05


@pytest.fixture
def pair(tmp_path: Path, pg_url: str, redis_db: str) -> Iterator[tuple[ServerProcess, ...]]:
    env = {
        "TUFSYNC_REDIS_URL": redis_db,
        "TUFSYNC_DATABASE_URL": pg_url,
        "TUFSYNC_STORAGE_URL": (tmp_path / "public").as_uri(),
        "TUFSYNC_ONLINE_KEY_DIR": str(tmp_path / "keys"),
        "TUFSYNC_JWT_SECRET": "auth-scaleout-secret-0123456789abcdef",
        "TUFSYNC_SIGNUP_KEY": SIGNUP_KEY,
        "TUFSYNC_LOG_LEVEL": "warning",
    }
    (tmp_path / "public").mkdir()
    upgrade_database(env)
    servers = []
    try:
        for name in ("a", "b"):
            port = free_port()
            data_dir = tmp_path / name
            process, log = start_tufsync(
                "serve", data_dir, {**env, "TUFSYNC_PORT": str(port)}, "server.log"
            )
            server = ServerProcess(f"http://127.0.0.1:{port}", data_dir, process, log)
            servers.append(server)
            wait_up(f"{server.url}/health", process, log)
        yield tuple(servers)
    finally:
        for server in servers:
            server.process.terminate()
            server.process.wait(timeout=15)


def sql(pg_url: str, statement: str, *args: object) -> None:
    """Run one statement as an operator would, from outside the service."""
    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(False)

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def account(server: ServerProcess) -> tuple[str, str]:
    name = unique_name("so")
    body = {"username": name, "password": PASSWORD, "api_key": SIGNUP_KEY}
    assert httpx.post(f"{server.url}/signup", json=body, timeout=60).status_code == 200
    login = {"username": name, "password": PASSWORD}
    token = httpx.post(f"{server.url}/login", json=login, timeout=60).json()["token"]
    return name, str(token)


def get(server: ServerProcess, path: str, token: str, **params: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{server.url}{path}", headers=headers, params=params, timeout=60).status_code


def cached_on(server: ServerProcess, path: str, token: str, **params: str) -> None:
    assert [get(server, path, token, **params) for _ in range(3)] == [200, 200, 200]


def test_account_deleted_by_sql_refused_by_every_process(
    pair: tuple[ServerProcess, ServerProcess], pg_url: str
) -> None:
    a, b = pair
    name, token = account(a)
    cached_on(b, "/whoami", token)
    cached_on(a, "/whoami", token)
    sql(pg_url, "DELETE FROM users WHERE username = $1", name)
    time.sleep(NOTIFY_BOUND)
    assert get(b, "/whoami", token) == 401
    assert get(a, "/whoami", token) == 401


def test_token_generation_changed_refused_by_the_other_process(
    pair: tuple[ServerProcess, ServerProcess], pg_url: str
) -> None:
    a, b = pair
    name, token = account(a)
    cached_on(b, "/whoami", token)
    sql(pg_url, "UPDATE users SET token_generation = 'rotated' WHERE username = $1", name)
    time.sleep(NOTIFY_BOUND)
    assert get(b, "/whoami", token) == 401


def test_api_token_revoked_on_one_process_refused_by_the_other(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    _name, login = account(a)
    auth = {"Authorization": f"Bearer {login}"}
    upload = httpx.post(
        f"{a.url}/upload",
        headers=auth,
        data={"data": '{"app_name": "so", "version": "1.0"}'},
        files=[("file", ("a.deb", b"a"))],
        timeout=60,
    )
    assert upload.status_code == 200, upload.text
    apps = httpx.get(f"{a.url}/app/list", headers=auth, timeout=60).json()["apps"]
    body = {"name": "ci", "allowed_apps": [apps[0]["ID"]]}
    created = httpx.post(f"{a.url}/token/create", headers=auth, json=body, timeout=60).json()
    cached_on(b, "/search", created["token"], app_name="so")
    revoked = httpx.request(
        "DELETE", f"{a.url}/token/delete", headers=auth, json={"id": created["id"]}, timeout=60
    )
    assert revoked.status_code == 200
    time.sleep(NOTIFY_BOUND)
    assert get(b, "/search", created["token"], app_name="so") == 401
    assert get(a, "/search", created["token"], app_name="so") == 401


def test_listener_down_means_reading_the_database(
    pair: tuple[ServerProcess, ServerProcess], pg_url: str
) -> None:
    a, b = pair
    name, token = account(a)
    other, other_token = account(a)
    cached_on(b, "/whoami", token)
    # Cut every process's listening connection, then change the account at once:
    # nobody hears this notification, and the processes reconnect only later.
    sql(
        pg_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = $1 AND datname = current_database()",
        LISTENER_NAME,
    )
    sql(pg_url, "DELETE FROM users WHERE username = $1", name)
    assert get(b, "/whoami", token) == 401
    assert get(b, "/whoami", other_token) == 200  # still served, from the database
    time.sleep(3)  # listening again: cached answers come back, still correct
    cached_on(b, "/whoami", other_token)
    sql(pg_url, "DELETE FROM users WHERE username = $1", other)
    time.sleep(NOTIFY_BOUND)
    assert get(b, "/whoami", other_token) == 401
