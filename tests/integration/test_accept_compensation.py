"""A bootstrap whose task the queue refuses leaves no marker and no record behind
(tufsync.operations.accept undoes what the request reserved), so it can be retried."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.support import PASSWORD, SIGNUP_KEY, ceremony
from tufsync.api.app import create_app
from tufsync.settings import Settings


def test_refused_bootstrap_releases_its_marker(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, signup_key=SIGNUP_KEY)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        client.post(
            "/signup", json={"username": "alice", "password": PASSWORD, "api_key": SIGNUP_KEY}
        )
        login = client.post("/login", json={"username": "alice", "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        cer = ceremony(services.settings.resolved_online_key_dir, "alice", "app")
        rejected: list[str] = []

        async def broken_submit(task_id: str) -> None:
            rejected.append(task_id)
            raise RuntimeError("queue unreachable")

        original = services.queue.submit
        services.queue.submit = broken_submit
        try:
            failed = client.post("/tuf/v1/bootstrap", json=cer.payload)
        finally:
            services.queue.submit = original
        assert failed.status_code == 500
        assert len(rejected) == 1
        assert client.get("/tuf/v1/task", params={"task_id": rejected[0]}).status_code == 404
        status = client.get("/tuf/v1/bootstrap", params={"appName": "app"}).json()
        assert status["data"]["id"] == ""
        assert status["message"] == "System available for bootstrap."
        retried = client.post("/tuf/v1/bootstrap", json=cer.payload)
        assert retried.status_code == 202
