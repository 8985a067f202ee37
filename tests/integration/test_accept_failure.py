"""When a task cannot be accepted (the queue fails), a request leaves no draft behind."""

from __future__ import annotations

import copy
from pathlib import Path

from fastapi.testclient import TestClient

from tests.support import PASSWORD, SIGNUP_KEY, ceremony
from tufsync.api.app import create_app
from tufsync.settings import Settings


def test_rotation_leaves_no_draft_when_the_queue_fails(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, signup_key=SIGNUP_KEY)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        client.post(
            "/signup", json={"username": "alice", "password": PASSWORD, "api_key": SIGNUP_KEY}
        )
        token = client.post("/login", json={"username": "alice", "password": PASSWORD}).json()[
            "token"
        ]
        client.headers["Authorization"] = f"Bearer {token}"
        cer = ceremony(
            services.settings.resolved_online_key_dir, "alice", "app", root_keys=2, threshold=2
        )
        response = client.post("/tuf/v1/bootstrap", json=cer.payload)
        task_id = response.json()["data"]["task_id"]
        for _ in range(200):
            state = client.get("/tuf/v1/task", params={"task_id": task_id}).json()["data"]["state"]
            if state == "SUCCESS":
                break
        assert state == "SUCCESS"

        root = client.get("/tuf/v1/metadata/root", params={"appName": "app"}).json()
        draft = copy.deepcopy(root["data"]["trusted_root"])
        draft["signed"]["version"] = 2
        draft["signatures"] = []

        rejected: list[str] = []

        async def broken_submit(task_id: str) -> None:
            rejected.append(task_id)
            raise RuntimeError("queue unreachable")

        original = services.queue.submit
        services.queue.submit = broken_submit
        try:
            failed = client.post(
                "/tuf/v1/metadata", params={"appName": "app"}, json={"metadata": {"root": draft}}
            )
        finally:
            services.queue.submit = original
        assert failed.status_code == 500
        assert failed.json() == {"error": "Internal server error"}
        assert len(rejected) == 1  # and its task record is gone too
        gone = client.get("/tuf/v1/task", params={"task_id": rejected[0]})
        assert gone.status_code == 404
        pending = client.get("/tuf/v1/metadata/sign", params={"appName": "app"}).json()
        assert pending["data"] is None
        retried = client.post(
            "/tuf/v1/metadata", params={"appName": "app"}, json={"metadata": {"root": draft}}
        )
        assert retried.status_code == 200
        # The audit trail keeps the accepted rotation only, not the refused one.
        trail = client.get("/tuf/v1/audit", params={"appName": "app"}).json()["data"]["items"]
        posted = [i for i in trail if i["event"] == "root_rotation_posted"]
        assert [i["task_id"] for i in posted] == [retried.json()["data"]["task_id"]]
        assert rejected[0] not in {i["task_id"] for i in trail}
