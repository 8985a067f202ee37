"""API tokens (``fns_``) and login tokens bound to the account itself."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support import PASSWORD, SIGNUP_KEY, Api, ceremony, unique_name


def app_id(api: Api, name: str) -> str:
    apps = api.get("/app/list").json()["apps"]
    return str(next(a["ID"] for a in apps if a["AppName"] == name))


def new_token(api: Api, *apps: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "ci", "allowed_apps": [app_id(api, a) for a in apps], **extra}
    response = api.post("/token/create", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def as_token(api: Api, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=api.server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def wait(client: httpx.Client, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        response = client.get("/tuf/v1/task", params={"task_id": task_id})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        if data["state"] in ("SUCCESS", "FAILURE"):
            return data
        assert time.monotonic() < deadline
        time.sleep(0.05)


def upload(client: httpx.Client, app: str, version: str, content: bytes) -> httpx.Response:
    return client.post(
        "/upload",
        data={"data": json.dumps({"app_name": app, "version": version})},
        files=[("file", ("a.deb", content))],
    )


def test_token_whole_life(api: Api) -> None:
    api.upload_ok("ci", "0.1", {"a.deb": b"seed"})
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, "ci").payload)
    created = new_token(api, "ci")
    secret = created["token"]
    assert secret.startswith("fns_") and len(secret) == 4 + 64
    assert set(created) == {
        "id",
        "name",
        "token",
        "token_prefix",
        "allowed_apps",
        "expires_at",
        "created_at",
    }
    assert secret.startswith(created["token_prefix"]) and created["expires_at"] is None
    listed = api.get("/token/list").json()["tokens"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0] and "token_hash" not in listed[0]
    assert secret not in json.dumps(listed)

    with as_token(api, secret) as ci:
        uploaded = upload(ci, "ci", "1.0", b"from ci")
        assert uploaded.status_code == 200, uploaded.text
        version_id = uploaded.json()["uploadResult.Uploaded"]
        found = ci.get("/search", params={"app_name": "ci"}).json()
        assert {v["Version"] for v in found["items"]} == {"0.1", "1.0"}
        published = ci.post(
            "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "1.0"}
        )
        assert published.status_code in (200, 202), published.text
        assert wait(ci, published.json()["data"]["task_id"])["state"] == "SUCCESS"
        artifact = api.version("ci", version_id)["Artifacts"][0]
        assert artifact["TufSigned"] is True
        assert artifact["TufTaskID"] == published.json()["data"]["task_id"]
        body = {"id": version_id, "app_name": "ci", "version": "1.0", "artifacts_to_delete": ["0"]}
        removed = ci.post("/tuf/v1/artifacts/delete", json=body)
        assert removed.status_code == 202, removed.text
        assert wait(ci, removed.json()["data"]["task_id"])["state"] == "SUCCESS"
        assert api.get("/token/list").json()["tokens"][0]["last_used_at"]

        revoked = api.http.request("DELETE", "/token/delete", json={"id": created["id"]})
        assert revoked.status_code == 200 and revoked.json() == {"message": "Token revoked"}
        after = upload(ci, "ci", "2.0", b"too late")
        assert after.status_code == 401
        assert ci.get("/search", params={"app_name": "ci"}).status_code == 401
    again = api.http.request("DELETE", "/token/delete", json={"id": created["id"]})
    assert again.status_code == 404
    assert api.get("/token/list").json()["tokens"] == []


def test_token_scope(api: Api) -> None:
    mine = api.upload_ok("scoped", "1.0", {"a.deb": b"a"})
    other = api.upload_ok("unscoped", "1.0", {"b.deb": b"b"})
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, "unscoped").payload)
    published = api.publish_ok(other, "1.0")
    secret = new_token(api, "scoped")["token"]
    with as_token(api, secret) as ci:
        assert upload(ci, "scoped", "2.0", b"ok").status_code == 200
        refused = upload(ci, "unscoped", "2.0", b"no")
        assert refused.status_code == 403 and "no access" in refused.json()["error"]
        assert upload(ci, "brandnew", "1.0", b"no").status_code == 403
        assert ci.get("/search", params={"app_name": "unscoped"}).status_code == 403
        everything = ci.get("/search", params={"limit": 100}).json()["items"]
        assert {v["AppName"] for v in everything} == {"scoped"}
        publish = ci.post("/tuf/v1/artifacts/publish", json={"app_id": other, "version": "1.0"})
        assert publish.status_code == 403
        body = {"id": other, "app_name": "unscoped", "version": "1.0", "artifacts_to_delete": ["0"]}
        assert ci.post("/tuf/v1/artifacts/delete", json=body).status_code == 403
        task = ci.get("/tuf/v1/task", params={"task_id": published["task_id"]})
        assert task.status_code == 403
        assert ci.post("/artifact/delete", json={**body, "id": mine}).status_code == 403
        for method, path, params in [
            ("GET", "/app/list", {}),
            ("GET", "/whoami", {}),
            ("GET", "/token/list", {}),
            ("GET", "/channel/list", {}),
            ("GET", "/tuf/v1/config", {"appName": "scoped"}),
            ("GET", "/tuf/v1/bootstrap", {"appName": "scoped"}),
            ("DELETE", "/apps/delete", {"id": mine}),
        ]:
            response = ci.request(method, path, params=params)
            assert response.status_code == 403, (path, response.text)
            assert "login" in response.json()["error"]
        create = ci.post(
            "/token/create", json={"name": "x", "allowed_apps": [app_id(api, "scoped")]}
        )
        assert create.status_code == 403
    assert len(api.version("unscoped", other)["Artifacts"]) == 1


def test_token_never_reaches_another_admin(make_api: Callable[[], Api]) -> None:
    alice, bob = make_api(), make_api()
    bob_version = bob.upload_ok("same", "1.0", {"b.deb": b"bob"})
    alice.upload_ok("same", "1.0", {"a.deb": b"alice"})
    foreign = alice.post("/token/create", json={"name": "x", "allowed_apps": [app_id(bob, "same")]})
    assert foreign.status_code == 400
    assert alice.post("/token/create", json={"name": "x", "allowed_apps": []}).status_code == 400
    assert alice.post("/token/create", json={"allowed_apps": ["a"]}).status_code == 400
    secret = new_token(alice, "same")["token"]
    with as_token(alice, secret) as ci:
        found = ci.get("/search", params={"app_name": "same"}).json()["items"]
        assert [v["AppName"] for v in found] == ["same"] and found[0]["ID"] != bob_version
        publish = ci.post(
            "/tuf/v1/artifacts/publish", json={"app_id": bob_version, "version": "1.0"}
        )
        assert publish.status_code == 404
    assert bob.version("same", bob_version)["Artifacts"][0]["TufSigned"] is False
    bob_tokens = bob.get("/token/list").json()["tokens"]
    assert bob_tokens == []
    alice_token = alice.get("/token/list").json()["tokens"][0]["id"]
    gone = bob.http.request("DELETE", "/token/delete", json={"id": alice_token})
    assert gone.status_code == 404


def test_token_expiry_and_forgery(api: Api) -> None:
    api.upload_ok("exp", "1.0", {"a.deb": b"a"})
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    expired_request = api.post(
        "/token/create",
        json={"name": "x", "allowed_apps": [app_id(api, "exp")], "expires_at": past},
    )
    assert expired_request.status_code == 400 and "future" in expired_request.json()["error"]
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    created = new_token(api, "exp", expires_at=soon)
    assert created["expires_at"]
    with as_token(api, created["token"]) as ci:
        assert ci.get("/search", params={"app_name": "exp"}).status_code == 200
        time.sleep(2.5)
        late = ci.get("/search", params={"app_name": "exp"})
        assert late.status_code == 401 and late.json()["error"] == "token expired"
    with as_token(api, "fns_" + "0" * 64) as forged:
        assert forged.get("/search").status_code == 401


def test_login_token_bound_to_the_account(api: Api) -> None:
    """A deleted and re-created account does not inherit old tokens (docs/api.md §2)."""
    name = unique_name("bound")
    http = httpx.Client(base_url=api.server.url, timeout=60)
    signup = {"username": name, "password": PASSWORD, "api_key": SIGNUP_KEY}
    assert http.post("/signup", json=signup).status_code == 200
    old = http.post("/login", json={"username": name, "password": PASSWORD}).json()["token"]
    old_headers = {"Authorization": f"Bearer {old}"}
    assert http.get("/whoami", headers=old_headers).status_code == 200
    with sqlite3.connect(api.server.data_dir / "tufsync.db") as db:
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("DELETE FROM users WHERE username = ?", (name,))
    assert http.get("/whoami", headers=old_headers).status_code == 401
    assert http.post("/signup", json=signup).status_code == 200
    assert http.get("/whoami", headers=old_headers).status_code == 401
    assert http.get("/app/list", headers=old_headers).status_code == 401
    new = http.post("/login", json={"username": name, "password": PASSWORD}).json()["token"]
    assert http.get("/whoami", headers={"Authorization": f"Bearer {new}"}).status_code == 200
