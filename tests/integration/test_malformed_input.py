"""Malformed input gets a 400 with a sentence, never a 500 (docs/api.md §1, §5.1).

Deeply nested JSON and integers of thousands of digits on every route that takes a
JSON body (found in /openapi.json, so new routes are covered too), in the ``data``
form field, and on /login and /signup; bootstrap ``timeout`` outside finite
1..3600; a malformed bootstrap payload for an app that is already bootstrapped.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support import PASSWORD, SIGNUP_KEY, Api, ceremony, unique_name

DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"appName": "app", "a": ' + "[" * 100 + "]" * 100 + "}"
HUGE_INT = '{"appName": "app", "username": "someone", "n": ' + "9" * 5000 + "}"
NON_FINITE = '{"appName": "app", "timeout": NaN}'
BAD_BODIES = [DEEP, DEEP_OBJECT, HUGE_INT, NON_FINITE, '{"x": 1e999}']


KNOWN_JSON_ROUTES = [
    ("POST", "/signup"),
    ("POST", "/login"),
    ("POST", "/app/create"),
    ("POST", "/artifact/delete"),
    ("POST", "/tuf/v1/bootstrap"),
    ("POST", "/tuf/v1/bootstrap/recovery"),
    ("POST", "/tuf/v1/artifacts/publish"),
    ("POST", "/tuf/v1/artifacts/delete"),
    ("PUT", "/tuf/v1/config"),
    ("POST", "/tuf/v1/metadata"),
    ("POST", "/tuf/v1/metadata/sign"),
    ("POST", "/tuf/v1/metadata/sign/delete"),
    ("POST", "/tuf/v1/metadata/delegated/rotate"),
    ("POST", "/tuf/v1/metadata/online"),
]


def json_routes(api: Api) -> list[tuple[str, str]]:
    """The routes above plus every route /openapi.json describes with a JSON body."""
    spec = api.get("/openapi.json").json()
    routes = list(KNOWN_JSON_ROUTES)
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content and (method.upper(), path) not in routes:
                routes.append((method.upper(), path))
    return routes


def assert_sentence_400(response: httpx.Response, where: str) -> None:
    assert response.status_code == 400, f"{where}: {response.status_code} {response.text[:300]}"
    error = response.json()["error"]
    assert isinstance(error, str) and len(error) > 10, where


def test_every_json_route_refuses_unparsable_bodies_with_400(api: Api) -> None:
    for method, path in json_routes(api):
        for body in BAD_BODIES:
            response = api.http.request(
                method,
                path,
                params={"appName": "app"},
                content=body.encode(),
                headers={"Content-Type": "application/json"},
            )
            assert_sentence_400(response, f"{method} {path} {body[:30]}")


@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_login_and_signup_without_a_token(api: Api, path: str) -> None:
    anonymous = httpx.Client(base_url=api.server.url, timeout=30)
    for body in BAD_BODIES:
        response = anonymous.post(path, content=body, headers={"Content-Type": "application/json"})
        assert_sentence_400(response, f"{path} {body[:30]}")
    username = api.username if path == "/login" else unique_name()
    number = anonymous.post(
        path,
        json={"username": username, "password": PASSWORD, "api_key": SIGNUP_KEY, "n": 1},
    )
    assert number.status_code == 200, number.text  # an ordinary extra field is fine
    lone_surrogate = anonymous.post(
        path,
        content=b'{"username": "\\ud800", "password": "\\ud800-long-enough", "api_key": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert lone_surrogate.status_code in (400, 401), lone_surrogate.text


@pytest.mark.parametrize("path", ["/upload", "/app/create", "/artifact/delete"])
def test_data_form_field(api: Api, path: str) -> None:
    for body in BAD_BODIES:
        response = api.post(path, data={"data": body}, files=[("file", ("a.bin", b"x"))])
        assert_sentence_400(response, f"{path} data={body[:30]}")
        if path != "/upload":
            response = api.post(path, data={"data": body})
            assert_sentence_400(response, f"{path} data={body[:30]} (no file)")


def test_numbers_in_fields_and_query(api: Api) -> None:
    response = api.post(
        "/artifact/delete",
        json={"id": "x", "app_name": "a", "version": "1", "artifacts_to_delete": ["9" * 5000]},
    )
    assert_sentence_400(response, "artifact index of 5000 digits")
    response = api.post(
        "/artifact/delete",
        json={"id": "x", "app_name": "a", "version": "1", "artifacts_to_delete": ["²"]},
    )
    assert_sentence_400(response, "artifact index '²'")
    response = api.get("/search", params={"limit": "9" * 5000})
    assert_sentence_400(response, "search limit of 5000 digits")
    response = api.get("/search", params={"limit": "²"})
    assert_sentence_400(response, "search limit '²'")


@pytest.mark.parametrize(
    "timeout",
    ["NaN", "Infinity", "-Infinity", "1e308", "1e999", "0", "0.5", "-1", "3601", '"30"', "true"],
)
def test_bootstrap_timeout_must_be_finite_1_to_3600(api: Api, timeout: str) -> None:
    app = unique_name("t")
    cer = ceremony(api.server.key_dir, api.username, app)
    body = json.dumps(cer.payload)[:-1] + f', "timeout": {timeout}}}'
    response = api.post(
        "/tuf/v1/bootstrap", content=body, headers={"Content-Type": "application/json"}
    )
    assert_sentence_400(response, f"timeout {timeout}")
    error = response.json()["error"]
    assert "timeout" in error or "JSON" in error or "number" in error, error
    status = api.get("/tuf/v1/bootstrap", params={"appName": app}).json()["data"]
    assert status["bootstrap"] is False and status["id"] == ""


@pytest.mark.parametrize("timeout", ["NaN", "1e308", "0", "true"])
def test_recovery_timeout_must_be_finite_1_to_3600(api: Api, timeout: str) -> None:
    body = '{"appName": "app", "timeout": ' + timeout + "}"
    response = api.post(
        "/tuf/v1/bootstrap/recovery", content=body, headers={"Content-Type": "application/json"}
    )
    assert_sentence_400(response, f"recovery timeout {timeout}")


def test_bootstrap_accepts_timeouts_in_range(api: Api) -> None:
    for timeout in (1, 3600, 59.5):
        app = unique_name("t")
        cer = ceremony(api.server.key_dir, api.username, app)
        response = api.post("/tuf/v1/bootstrap", json={**cer.payload, "timeout": timeout})
        assert response.status_code in (200, 202), response.text
        api.wait_task(response.json()["data"]["task_id"])


def test_malformed_payload_for_a_bootstrapped_app_is_400(api: Api) -> None:
    app = unique_name("b")
    cer = ceremony(api.server.key_dir, api.username, app)
    api.bootstrap_ok(cer.payload)
    malformed: list[dict[str, Any]] = [
        {"appName": app},
        {"appName": app, "settings": "not an object", "metadata": cer.payload["metadata"]},
        {**cer.payload, "metadata": {"root": {"signed": 5, "signatures": []}}},
        {**cer.payload, "timeout": 1e308},
    ]
    for payload in malformed:
        response = api.post("/tuf/v1/bootstrap", json=payload)
        assert_sentence_400(response, f"malformed payload {str(payload)[:60]}")
    again = api.post("/tuf/v1/bootstrap", json=cer.payload)
    assert again.status_code == 409, again.text
