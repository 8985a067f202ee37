"""Bootstrap recovery (docs/api.md §5.1) in the embedded mode: state wiped, rebuilt from storage."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Api, ServerProcess, ceremony, hold_state_key, run_server, unique_name
from tufsync import tenant_keys
from tufsync.keyholder.verify import verify_download
from tufsync.tenant_keys import TenantRef


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with run_server(tmp_path_factory.mktemp("recovery-server")) as server:
        yield server


def state_sql(server: ServerProcess, sql: str, *args: object) -> None:
    conn = sqlite3.connect(server.data_dir / "state.db")
    with conn:
        conn.execute(sql, args)
    conn.close()


def forget_repository(server: ServerProcess, ref: TenantRef) -> None:
    """Drop every state entry of one repository (as a state-store data loss would)."""
    app_space = tenant_keys.bootstrap(ref).removesuffix("bootstrap")
    state_sql(
        server, "DELETE FROM state_entries WHERE substr(key, 1, ?) = ?", len(app_space), app_space
    )
    state_sql(server, "DELETE FROM state_entries WHERE key = ?", tenant_keys.schedule(ref))


def recover(api: Api, app: str, **extra: object) -> httpx.Response:
    return api.post("/tuf/v1/bootstrap/recovery", json={"appName": app, **extra})


def test_recovery_rebuilds_state(own_server: ServerProcess, tmp_path: Path) -> None:
    api = Api(own_server, unique_name())
    app = "rec"
    cer = ceremony(own_server.key_dir, api.username, app)
    version_id = api.upload_ok(app, "1.0", {"a.deb": b"before loss"})
    api.bootstrap_ok(cer.payload)
    api.publish_ok(version_id, "1.0")
    put = api.http.put(
        "/tuf/v1/config",
        params={"appName": app},
        json={"settings": {"expiration": {"snapshot": 9}}},
    )
    assert api.wait_task(put.json()["data"]["task_id"])["state"] == "SUCCESS"
    recorded = api.get("/tuf/v1/config", params={"appName": app}).json()
    assert recorded["data"]["snapshot_expiration"] == 9

    not_needed = recover(api, app)
    assert not_needed.status_code == 409
    assert not_needed.json() == {
        "error": "Recovery not required: Redis state is already complete and consistent"
    }
    no_root = recover(api, "never-bootstrapped")
    assert no_root.json()["error"] == (
        "No persisted root metadata found. Bootstrap must be completed before recovery."
    )

    state_sql(own_server, "DELETE FROM state_entries WHERE key NOT LIKE 'task:%'")
    assert api.get("/tuf/v1/config", params={"appName": app}).status_code == 404

    # A timeout fails the task and leaves no partial state.
    with hold_state_key(own_server, tenant_keys.repo_lock(TenantRef(api.username, app))):
        quick = recover(api, app, timeout=1)
        assert quick.status_code == 202
        failed = api.wait_task(quick.json()["data"]["task_id"])
    assert failed["state"] == "FAILURE" and "timed out" in failed["result"]["error"]
    assert api.get("/tuf/v1/config", params={"appName": app}).status_code == 404

    response = recover(api, app, timeout=30)
    assert response.status_code == 202
    body = response.json()
    assert body["message"] == "Bootstrap recovery accepted and started in background"
    task = api.wait_task(body["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["result"]["task"] == "bootstrap_recovery"
    assert api.get("/tuf/v1/config", params={"appName": app}).json() == recorded
    status = api.get("/tuf/v1/bootstrap", params={"appName": app}).json()["data"]
    assert status["bootstrap"] is True and status["id"] == recorded["data"]["bootstrap"]

    second = api.upload_ok(app, "2.0", {"b.deb": b"after recovery"})
    api.publish_ok(second, "2.0")
    trusted = tmp_path / "root.json"
    trusted.write_bytes(cer.root_bytes)
    for version in ("1.0", "2.0"):
        path = f"{app}-{api.username}/{app}-{version}.deb"
        verify_download(own_server.public_url, api.username, app, trusted, path, tmp_path / version)


def test_recovery_without_private_copy_and_conflicts(own_server: ServerProcess) -> None:
    api = Api(own_server, unique_name())
    app = "derived"
    api.bootstrap_ok(ceremony(own_server.key_dir, api.username, app).payload)
    recorded = api.get("/tuf/v1/config", params={"appName": app}).json()["data"]
    (own_server.public_dir / "tuf_private" / api.username / app / "settings.json").unlink()
    forget_repository(own_server, TenantRef(api.username, app))

    state_sql(
        own_server,
        "INSERT INTO state_entries(key, value) VALUES (?, 'pre-x')",
        tenant_keys.bootstrap(TenantRef(api.username, app)),
    )
    busy = recover(api, app)
    assert busy.json() == {"error": "Bootstrap in progress for this admin and app"}
    state_sql(
        own_server,
        "DELETE FROM state_entries WHERE key = ?",
        tenant_keys.bootstrap(TenantRef(api.username, app)),
    )
    state_sql(
        own_server,
        "INSERT INTO state_entries(key, value) VALUES (?, 'other')",
        tenant_keys.recovery(TenantRef(api.username, app)),
    )
    running = recover(api, app)
    assert running.json() == {"error": "Recovery already in progress for this admin and app"}
    state_sql(
        own_server,
        "DELETE FROM state_entries WHERE key = ?",
        tenant_keys.recovery(TenantRef(api.username, app)),
    )
    assert recover(api, app, timeout=-1).status_code == 400
    assert api.post("/tuf/v1/bootstrap/recovery", json={}).status_code == 400

    response = recover(api, app)
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    derived = api.get("/tuf/v1/config", params={"appName": app}).json()["data"]
    assert derived["bootstrap"].startswith("recovered-")
    for key in ("root_threshold", "root_num_keys", "targets_online_key", "timestamp_threshold"):
        assert derived[key] == recorded[key]
    for role in ("root", "targets", "snapshot", "timestamp"):
        assert derived[f"{role}_expiration"] == recorded[f"{role}_expiration"]
    assert derived["delegated_roles"] == recorded["delegated_roles"]


def test_recovery_of_a_hash_bin_repository(own_server: ServerProcess) -> None:
    api = Api(own_server, unique_name())
    app = "binrec"
    api.bootstrap_ok(ceremony(own_server.key_dir, api.username, app, hash_bins=8).payload)
    recorded = api.get("/tuf/v1/config", params={"appName": app}).json()["data"]
    (own_server.public_dir / "tuf_private" / api.username / app / "settings.json").unlink()
    forget_repository(own_server, TenantRef(api.username, app))
    task = api.wait_task(recover(api, app).json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    derived = api.get("/tuf/v1/config", params={"appName": app}).json()["data"]
    assert derived["hash_bins"] == recorded["hash_bins"]
    assert {k: v for k, v in derived.items() if k != "bootstrap"} == {
        k: v for k, v in recorded.items() if k != "bootstrap"
    }
    version_id = api.upload_ok(app, "1.0", {"x.bin": b"after recovery"})
    api.publish_ok(version_id, "1.0")
