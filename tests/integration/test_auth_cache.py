"""Cached sign-in answers end the moment the account or token changes (embedded mode).

Each token is used first, so its answer is cached; then the change is made behind
the server's back, with SQL on the database file (as an operator would), and the
very next request must be refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.integration.test_api_tokens import app_id, as_token, new_token
from tests.support import PASSWORD, Api


@contextmanager
def database(api: Api) -> Iterator[sqlite3.Connection]:
    with sqlite3.connect(api.server.data_dir / "tufsync.db") as db:
        db.execute("PRAGMA foreign_keys=ON")
        yield db


def whoami(api: Api, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{api.server.url}/whoami", headers=headers, timeout=60).status_code


def login_token(api: Api) -> str:
    body = {"username": api.username, "password": PASSWORD}
    return str(api.post("/login", json=body).json()["token"])


def test_token_generation_change_refuses_at_once(api: Api) -> None:
    token = login_token(api)
    assert [whoami(api, token) for _ in range(3)] == [200, 200, 200]
    with database(api) as db:
        db.execute(
            "UPDATE users SET token_generation = 'rotated' WHERE username = ?", (api.username,)
        )
    assert whoami(api, token) == 401
    assert whoami(api, login_token(api)) == 200


def test_deleted_account_refused_at_once(api: Api) -> None:
    token = login_token(api)
    assert [whoami(api, token) for _ in range(3)] == [200, 200, 200]
    with database(api) as db:
        db.execute("DELETE FROM users WHERE username = ?", (api.username,))
    assert whoami(api, token) == 401


def test_api_token_deleted_in_the_database_refused_at_once(api: Api) -> None:
    api.upload_ok("cached", "1.0", {"a.deb": b"a"})
    created = new_token(api, "cached")
    with as_token(api, created["token"]) as ci:
        for _ in range(3):
            assert ci.get("/search", params={"app_name": "cached"}).status_code == 200
        with database(api) as db:
            db.execute("DELETE FROM api_tokens WHERE id = ?", (created["id"],))
        late = ci.get("/search", params={"app_name": "cached"})
        assert late.status_code == 401, late.text


def test_api_token_revoked_by_route_refused_at_once(api: Api) -> None:
    api.upload_ok("revoked", "1.0", {"a.deb": b"a"})
    created = new_token(api, "revoked")
    with as_token(api, created["token"]) as ci:
        for _ in range(3):
            assert ci.get("/search", params={"app_name": "revoked"}).status_code == 200
        gone = api.http.request("DELETE", "/token/delete", json={"id": created["id"]})
        assert gone.status_code == 200
        assert ci.get("/search", params={"app_name": "revoked"}).status_code == 401


def test_api_token_rescoped_in_the_database_takes_effect_at_once(api: Api) -> None:
    api.upload_ok("scoped", "1.0", {"a.deb": b"a"})
    api.upload_ok("other", "1.0", {"a.deb": b"a"})
    created = new_token(api, "scoped")
    with as_token(api, created["token"]) as ci:
        assert ci.get("/search", params={"app_name": "scoped"}).status_code == 200
        assert ci.get("/search", params={"app_name": "other"}).status_code == 403
        with database(api) as db:
            db.execute(
                "UPDATE api_tokens SET allowed_apps = ? WHERE id = ?",
                (f'["{app_id(api, "other")}"]', created["id"]),
            )
        assert ci.get("/search", params={"app_name": "other"}).status_code == 200
        assert ci.get("/search", params={"app_name": "scoped"}).status_code == 403
