"""A publish that reached the public store is reported as done, even when the database
connection is lost while the registry records it (embedded mode, in-process).

The registry's side (signed marks, audit event, claims) is retried on a fresh
connection; when the database stays unreachable the task still ends SUCCESS,
with a warning, and publishing the version again later brings the marks in line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from tests.support import PASSWORD, SIGNUP_KEY, ceremony
from tufsync.api.app import create_app
from tufsync.db import queries
from tufsync.registry import marks
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.tasks.claims import sweep_orphan_claims


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, signup_key=SIGNUP_KEY)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = {"username": "alice", "password": PASSWORD, "api_key": SIGNUP_KEY}
        assert client.post("/signup", json=body).status_code == 200
        token = client.post("/login", json={"username": "alice", "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['token']}"
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        cer = ceremony(services.settings.resolved_online_key_dir, "alice", "app")
        response = client.post("/tuf/v1/bootstrap", json=cer.payload)
        assert wait_task(client, response.json()["data"]["task_id"])["state"] == "SUCCESS"
        yield client


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


def upload(client: TestClient, version: str) -> str:
    response = client.post(
        "/upload",
        data={"data": json.dumps({"app_name": "app", "version": version})},
        files=[("file", ("pkg.bin", f"bytes {version}".encode()))],
    )
    assert response.status_code == 200, response.text
    return str(response.json()["uploadResult.Uploaded"])


def publish(client: TestClient, version_id: str, version: str) -> dict[str, Any]:
    response = client.post(
        "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": version}
    )
    assert response.status_code == 202, response.text
    return wait_task(client, response.json()["data"]["task_id"])


def signed_marks(client: TestClient, version_id: str) -> list[bool]:
    found = client.get("/search", params={"app_name": "app", "limit": 1000}).json()["items"]
    version = next(v for v in found if v["ID"] == version_id)
    return [a["TufSigned"] for a in version["Artifacts"]]


def listed(client: TestClient) -> set[str]:
    role = client.get(
        "/tuf/v1/metadata/delegated", params={"appName": "app", "roleName": "default"}
    ).json()["data"]["trusted_delegated"]
    return set(role["signed"]["targets"])


def lose_connection(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """The next ``times`` signed-mark writes fail as a terminated backend makes them fail."""
    real = queries.mark_signed
    calls = [0]

    def flaky(conn: Connection, signed: list[tuple[str, str, str]]) -> None:
        calls[0] += 1
        if calls[0] <= times:
            raise OperationalError(
                "UPDATE artifacts SET tuf_signed=1 WHERE ...",
                {},
                Exception("terminating connection due to administrator command"),
                connection_invalidated=True,
            )
        real(conn, signed)

    monkeypatch.setattr(queries, "mark_signed", flaky)
    return calls


def test_a_lost_connection_while_marking_is_retried(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    version_id = upload(client, "1.0")
    calls = lose_connection(monkeypatch, times=2)
    task = publish(client, version_id, "1.0")
    assert task["state"] == "SUCCESS", task
    assert "warning" not in task["result"]["details"]
    assert calls[0] == 3
    assert signed_marks(client, version_id) == [True]
    assert "app-alice/app-1.0.bin" in listed(client)


def test_a_publish_that_landed_is_success_even_when_marks_stay_lost(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(marks, "FIRST_DELAY", 0.01)
    version_id = upload(client, "2.0")
    calls = lose_connection(monkeypatch, times=1000)
    task = publish(client, version_id, "2.0")
    assert task["state"] == "SUCCESS", task
    assert task["result"]["details"]["warning"] == marks.WARNING
    assert calls[0] == marks.ATTEMPTS
    assert "app-alice/app-2.0.bin" in listed(client)  # the clients' view: published
    assert signed_marks(client, version_id) == [False]  # the registry lags

    # The database is back; once the claims sweep released the task's paths,
    # publishing the version again brings the marks in line.
    monkeypatch.undo()
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal.call(sweep_orphan_claims, services) == 1  # type: ignore[union-attr]
    again = publish(client, version_id, "2.0")
    assert again["state"] == "SUCCESS", again
    assert "warning" not in again["result"]["details"]
    assert signed_marks(client, version_id) == [True]
