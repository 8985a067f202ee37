"""Force online metadata update and PUT config, with their errors."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tests.support import Api, ceremony, offline_targets


def timestamp(api: Api, app: str) -> dict[str, Any]:
    path = api.server.public_dir / "tuf_metadata" / api.username / app / "timestamp.json"
    return dict(json.loads(path.read_bytes())["signed"])


def snapshot_meta(api: Api, app: str) -> dict[str, Any]:
    version = timestamp(api, app)["meta"]["snapshot.json"]["version"]
    path = api.server.public_dir / "tuf_metadata" / api.username / app / f"{version}.snapshot.json"
    return dict(json.loads(path.read_bytes())["signed"])


def force(api: Api, app: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post(
        "/tuf/v1/metadata/online", params={"appName": app}, json=body if body is not None else None
    )
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Force online metadata update accepted."
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    return task


def test_force_update_defaults_and_explicit_roles(api: Api) -> None:
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, "force").payload)
    ts1, snap1 = timestamp(api, "force"), snapshot_meta(api, "force")
    force(api, "force", {})
    ts2, snap2 = timestamp(api, "force"), snapshot_meta(api, "force")
    assert ts2["version"] == ts1["version"] + 1 and snap2["version"] == snap1["version"] + 1
    # Default on an online-targets repository includes targets.
    assert snap2["meta"]["targets.json"]["version"] == 2
    assert datetime.fromisoformat(ts2["expires"]) >= datetime.fromisoformat(ts1["expires"])

    force(api, "force", {"roles": ["targets", "snapshot", "timestamp"]})
    ts3, snap3 = timestamp(api, "force"), snapshot_meta(api, "force")
    assert (ts3["version"], snap3["version"], snap3["meta"]["targets.json"]["version"]) == (3, 3, 3)
    force(api, "force", {"roles": ["timestamp"]})
    assert timestamp(api, "force")["version"] == 4
    assert snapshot_meta(api, "force")["version"] == 3
    force(api, "force", {"roles": ["default"]})
    snap5 = snapshot_meta(api, "force")
    assert snap5["meta"]["default.json"]["version"] == 2
    # No body at all works too.
    response = api.post("/tuf/v1/metadata/online", params={"appName": "force"})
    assert response.status_code == 200


def test_force_update_errors(api: Api) -> None:
    response = api.post("/tuf/v1/metadata/online", params={"appName": "none"}, json={})
    assert response.status_code == 404
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, "errs").payload)
    root = api.post("/tuf/v1/metadata/online", params={"appName": "errs"}, json={"roles": ["root"]})
    assert root.status_code == 400
    assert root.json() == {"error": "Root role cannot be updated via this endpoint"}
    unknown = api.post("/tuf/v1/metadata/online", params={"appName": "errs"}, json={"roles": ["x"]})
    assert unknown.status_code == 400
    bad = api.post("/tuf/v1/metadata/online", params={"appName": "errs"}, json={"roles": "all"})
    assert bad.status_code == 400
    assert api.post("/tuf/v1/metadata/online", json={}).status_code == 400


def test_offline_targets_repository(api: Api) -> None:
    api.bootstrap_ok(offline_targets(api, "offline").payload)
    config = api.get("/tuf/v1/config", params={"appName": "offline"}).json()["data"]
    assert config["targets_online_key"] == 0
    assert set(config["delegated_roles"]) == {"releases"}
    response = api.post(
        "/tuf/v1/metadata/online", params={"appName": "offline"}, json={"roles": ["targets"]}
    )
    assert response.status_code == 404
    assert "offline" in response.json()["error"]
    task = force(api, "offline", {})
    assert task["result"]["details"]["roles"] == ["snapshot", "timestamp"]
    version_id = api.upload_ok("offline", "1.0", {"o.deb": b"offline targets"})
    api.publish_ok(version_id, "1.0")
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": "offline", "roleName": "releases"}
    ).json()["data"]["trusted_delegated"]
    assert len(delegated["signed"]["targets"]) == 1


def test_put_config(api: Api) -> None:
    app = "conf"
    assert (
        api.http.put(
            "/tuf/v1/config",
            params={"appName": app},
            json={"settings": {"expiration": {"timestamp": 3}}},
        ).status_code
        == 404
    )
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    response = api.http.put(
        "/tuf/v1/config",
        params={"appName": app},
        json={"settings": {"expiration": {"timestamp": 3, "snapshot": 20, "default": 40}}},
    )
    assert response.status_code == 202, response.text
    assert response.json()["message"] == "Settings successfully submitted."
    assert api.wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"
    config = api.get("/tuf/v1/config", params={"appName": app}).json()["data"]
    assert (config["timestamp_expiration"], config["snapshot_expiration"]) == (3, 20)
    assert config["delegated_roles"]["default"]["expiration"] == 40
    before = datetime.fromisoformat(timestamp(api, app)["expires"])
    force(api, app, {"roles": ["timestamp"]})
    after = datetime.fromisoformat(timestamp(api, app)["expires"])
    assert (after - before).days >= 1  # was 1 day, now 3 days from now

    for body, fragment in [
        ({"settings": {"expiration": {"root": 10}}}, "Root"),
        ({"settings": {"expiration": {"nobody": 10}}}, "Unknown role"),
        ({"settings": {"expiration": {"timestamp": 0}}}, "1 to 3650"),
        ({"settings": {"expiration": {"timestamp": 4000}}}, "1 to 3650"),
        ({"settings": {"expiration": {"timestamp": "2"}}}, "whole number"),
        ({"settings": {"expiration": {}}}, "at least one"),
        ({"settings": "x"}, "settings"),
    ]:
        bad = api.http.put("/tuf/v1/config", params={"appName": app}, json=body)
        assert bad.status_code == 400, body
        assert fragment in bad.json()["error"], bad.json()
    unchanged = api.get("/tuf/v1/config", params={"appName": app}).json()["data"]
    assert unchanged == config
