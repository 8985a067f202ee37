"""Accounts: signup, login, whoami and every error the contract lists."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.support import PASSWORD, SIGNUP_KEY, ServerProcess, unique_name


@pytest.fixture
def http(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


def signup(http: httpx.Client, **overrides: object) -> httpx.Response:
    body = {"username": unique_name(), "password": PASSWORD, "api_key": SIGNUP_KEY, **overrides}
    return http.post("/signup", json=body)


def test_signup_login_whoami(http: httpx.Client) -> None:
    name = unique_name()
    response = signup(http, username=name)
    assert response.json() == {"result": "Successfully created admin user."}
    token = http.post("/login", json={"username": name, "password": PASSWORD}).json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == claims["username"] == name
    assert claims["exp"] - claims["iat"] == 24 * 3600
    me = http.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"id": str(claims["uid"]), "username": name, "is_admin": True}
    assert isinstance(claims["gen"], str) and len(claims["gen"]) == 32


@pytest.mark.parametrize(
    ("overrides", "status", "fragment"),
    [
        ({"username": "ab"}, 400, "username"),
        ({"username": "bad-name"}, 400, "username"),
        ({"password": "short"}, 400, "at least 8"),
        ({"api_key": "wrong"}, 401, "Unauthorized"),
        ({"password": 12345678}, 400, "password"),
    ],
)
def test_signup_rejections(
    http: httpx.Client, overrides: dict[str, object], status: int, fragment: str
) -> None:
    response = signup(http, **overrides)
    assert response.status_code == status
    assert fragment in response.json()["error"]


def test_signup_missing_field_and_bad_json(http: httpx.Client) -> None:
    response = http.post("/signup", json={"username": unique_name(), "password": PASSWORD})
    assert response.status_code == 400
    assert "api_key" in response.json()["error"]
    response = http.post(
        "/signup", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


def test_signup_taken_username(http: httpx.Client) -> None:
    name = unique_name()
    assert signup(http, username=name).status_code == 200
    response = signup(http, username=name)
    assert response.status_code == 409
    assert "taken" in response.json()["error"]


def test_login_failures_look_the_same(http: httpx.Client) -> None:
    name = unique_name()
    signup(http, username=name)
    wrong = http.post("/login", json={"username": name, "password": "not-the-password"})
    unknown = http.post("/login", json={"username": unique_name(), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "Invalid username or password"}
    missing = http.post("/login", json={"username": name})
    assert missing.status_code == 400


def test_tokens_are_checked(http: httpx.Client, server: ServerProcess) -> None:
    name = unique_name()
    signup(http, username=name)
    now = int(time.time())
    forged = jwt.encode(
        {"sub": name, "username": name, "iat": now, "exp": now + 60},
        "guess-the-secret-but-long-enough-for-hs256",
    )
    secret = (server.data_dir / "secrets.json").read_text()
    import json

    real_secret = json.loads(secret)["jwt_secret"]
    expired = jwt.encode(
        {"sub": name, "username": name, "iat": now - 100, "exp": now - 10}, real_secret
    )
    # Validly signed, but bound to the name only (the format before account binding), or
    # to another token generation of the account: both refused.
    unbound = jwt.encode({"sub": name, "username": name, "iat": now, "exp": now + 60}, real_secret)
    login = http.post("/login", json={"username": name, "password": PASSWORD}).json()["token"]
    claims = jwt.decode(login, options={"verify_signature": False})
    other_generation = jwt.encode({**claims, "gen": "0" * 32}, real_secret)
    for header in (
        None,
        "Bearer",
        "Basic abc",
        "Bearer not.a.jwt",
        f"Bearer {forged}",
        f"Bearer {expired}",
        f"Bearer {unbound}",
        f"Bearer {other_generation}",
    ):
        headers = {"Authorization": header} if header else {}
        response = http.get("/whoami", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthorized"}
