"""What a failed task's record and a 500 answer tell the caller (embedded mode, in-process).

An unexpected exception (here a lost database connection, whose text holds the
SQL statement) is logged once with its traceback under a short error id; the
task record and the 500 answer give that id and a plain sentence, never the
exception's text. A task that gives up waiting for the repository lock says so,
and how long it waited, instead of claiming its own deadline passed.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import InterfaceError

from tests.support import PASSWORD, SIGNUP_KEY, ceremony
from tufsync import tenant_keys
from tufsync.api.app import create_app
from tufsync.db import queries
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.state import locks

SQL = "SELECT artifacts.path, artifacts.sha256 FROM artifacts WHERE artifacts.path IN ($1)"
ERROR_ID = re.compile(r"error id ([0-9a-f]{12})")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, signup_key=SIGNUP_KEY)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = {"username": "alice", "password": PASSWORD, "api_key": SIGNUP_KEY}
        assert client.post("/signup", json=body).status_code == 200
        token = client.post("/login", json={"username": "alice", "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['token']}"
        yield client


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def wait_task(client: TestClient, task_id: str, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        data: dict[str, Any] = client.get("/tuf/v1/task", params={"task_id": task_id}).json()[
            "data"
        ]
        if data["state"] in ("SUCCESS", "FAILURE"):
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.05)


def bootstrap(client: TestClient, app: str) -> None:
    services = services_of(client)
    cer = ceremony(services.settings.resolved_online_key_dir, "alice", app)
    response = client.post("/tuf/v1/bootstrap", json=cer.payload)
    assert response.status_code == 202, response.text
    assert wait_task(client, response.json()["data"]["task_id"])["state"] == "SUCCESS"


def logged_errors(caplog: pytest.LogCaptureFixture, error_id: str) -> list[str]:
    """The log lines (message and traceback) that name ``error_id``."""
    return [
        r.getMessage() + "\n" + logging.Formatter().formatException(r.exc_info)
        for r in caplog.records
        if error_id in r.getMessage() and r.exc_info
    ]


def test_task_hitting_a_database_error_names_an_error_id_not_the_sql(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap(client, "app")
    upload = client.post(
        "/upload",
        data={"data": json.dumps({"app_name": "app", "version": "1.0"})},
        files=[("file", ("pkg.bin", b"bytes"))],
    )
    assert upload.status_code == 200, upload.text
    version_id = upload.json()["uploadResult.Uploaded"]

    async def lost_connection(*_: object, **__: object) -> None:
        raise InterfaceError(SQL, ("app-alice/app-1.0.bin",), Exception("connection is closed"))

    monkeypatch.setattr(queries, "artifacts_by_path", lost_connection)
    caplog.set_level("ERROR")
    response = client.post(
        "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "1.0"}
    )
    assert response.status_code == 202, response.text
    task = wait_task(client, response.json()["data"]["task_id"])
    assert task["state"] == "FAILURE"
    error = task["result"]["error"]
    assert "SELECT" not in error and "InterfaceError" not in error and "SQL" not in error, error
    found = ERROR_ID.search(error)
    assert found is not None, error
    assert error.startswith("internal error (error id "), error
    assert "the server's log has the details" in error
    lines = logged_errors(caplog, found.group(1))
    assert len(lines) == 1, caplog.text
    assert "InterfaceError" in lines[0] and SQL in lines[0]


def test_500_answer_names_an_error_id_found_in_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap(client, "app")
    services = services_of(client)

    async def broken_submit(task_id: str) -> None:
        raise RuntimeError(f"queue unreachable: {SQL}")

    monkeypatch.setattr(services.queue, "submit", broken_submit)
    caplog.set_level("ERROR")
    failed = client.post("/tuf/v1/metadata/online", params={"appName": "app"}, json={})
    assert failed.status_code == 500
    assert failed.json() == {"error": "Internal server error"}
    error_id = failed.headers["X-Error-Id"]
    assert re.fullmatch(r"[0-9a-f]{12}", error_id), error_id
    lines = logged_errors(caplog, error_id)
    assert len(lines) == 1, caplog.text
    assert "queue unreachable" in lines[0] and SQL in lines[0]
    assert "POST /tuf/v1/metadata/online" in lines[0]


def test_task_that_gives_up_on_the_repository_lock_says_so(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap(client, "app")
    services = services_of(client)
    monkeypatch.setattr(locks, "DEFAULT_WAIT", 1.5)
    before = client.get("/public/tuf_metadata/alice/app/timestamp.json")
    lock = tenant_keys.repo_lock(tenant_keys.TenantRef("alice", "app"))
    held = client.portal.call(services.state.acquire_lock, lock, 60.0)  # type: ignore[union-attr]
    assert held is not None
    try:
        response = client.post("/tuf/v1/metadata/online", params={"appName": "app"}, json={})
        assert response.status_code == 200, response.text
        task = wait_task(client, response.json()["data"]["task_id"])
    finally:
        client.portal.call(services.state.release_lock, lock, held)  # type: ignore[union-attr]
    assert task["state"] == "FAILURE"
    assert task["result"]["error"] == (
        "task timed out waiting for the repository lock: other work held it for all of "
        "1.5 seconds; nothing was changed"
    )
    after = client.get("/public/tuf_metadata/alice/app/timestamp.json")
    assert before.status_code == 200
    assert after.content == before.content
