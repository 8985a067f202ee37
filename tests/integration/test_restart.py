"""Invariant 6 (embedded mode): an accepted task finishes even if the process died first."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from tests.support import Api, ceremony, run_server, unique_name
from tufsync import tenant_keys


def insert_record(data_dir: Path, record: dict[str, object]) -> None:
    conn = sqlite3.connect(data_dir / "state.db")
    with conn:
        conn.execute(
            "INSERT INTO state_entries(key, value, expires_at) VALUES (?, ?, ?)",
            (tenant_keys.task(str(record["task_id"])), json.dumps(record), time.time() + 3600),
        )
    conn.close()


def test_unfinished_tasks_resume_after_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("restart")
    with run_server(data) as server:
        api = Api(server, unique_name())
        api.bootstrap_ok(ceremony(server.key_dir, api.username, "resume").payload)
        token = api.http.headers["Authorization"]
    # While the server is down: one task accepted (PENDING) and one cut off mid-run (STARTED).
    now = "2026-01-01T00:00:00+00:00"
    task_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for task_id, state in zip(task_ids, ("PENDING", "STARTED"), strict=True):
        insert_record(
            data,
            {
                "task_id": task_id,
                "name": "force_online_metadata_update",
                "admin": api.username,
                "app": "resume",
                "params": {"roles": ["snapshot", "timestamp"]},
                "state": state,
                "result": None,
                "created_at": now,
                "updated_at": now,
            },
        )
    with run_server(data) as server:
        api.server = server
        api.http.base_url = server.url  # type: ignore[misc]
        api.http.headers["Authorization"] = token
        for task_id in task_ids:
            assert api.wait_task(task_id)["state"] == "SUCCESS"
        ts = api.http.get(f"/public/tuf_metadata/{api.username}/resume/timestamp.json").json()
        assert ts["signed"]["version"] == 3
