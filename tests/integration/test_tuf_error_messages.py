"""Every 4xx of a TUF route (``/tuf/v1/...``) carries a non-empty ``error`` and ``message``:
faynoSync's dashboard shows ``message`` and falls back to a generic text without one.

The routes come from the app's own OpenAPI document, so a new TUF route is walked too:
without a token, with a bad, an unknown and a bootstrapped app name, with junk query
values, malformed and incomplete bodies, conflicts (a second bootstrap, a busy
recovery), wrong methods and an unknown path.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import httpx

from tests.support import Api, ServerProcess, ceremony

TUF = "/tuf/v1"
METHODS = ("get", "post", "put", "delete")
# Answers that existing tests pin to faynoSync's exact body, which has no message
# (tests/integration/test_recovery.py, test_tuf_online.py, test_tuf_routes.py,
# test_publish_selection.py, test_faynosync_compat.py); they keep that body.
FAYNOSYNC_BARE = (
    "Recovery not required: ",
    "Bootstrap in progress for this admin and app",
    "Recovery already in progress for this admin and app",
    "Root role cannot be updated via this endpoint",
    "No valid artifacts to delete (all must be TUF signed)",
    "App version not found: app_id=",
)
JUNK_QUERY = {"task_id": "nope", "keyid": "nope", "roleName": "nope", "page": "x", "limit": "-1"}


def _bodies(app: str) -> list[bytes | None]:
    objects: list[Any] = [
        [],
        {},
        {"appName": app},
        {"appName": app, "roles": ["root"]},
        {"appName": app, "app_id": "nope", "version": "1"},
        {"appName": app, "metadata": "x", "settings": 1, "roles": "x", "timeout": -1},
    ]
    return [None, b"{not json", b"\xff\xfe", *(json.dumps(o).encode() for o in objects)]


def _check(answers: list[tuple[str, httpx.Response]]) -> Counter[int]:
    seen: Counter[int] = Counter()
    for what, response in answers:
        assert response.status_code < 500, (what, response.status_code, response.text)
        if response.status_code < 400:
            continue
        seen[response.status_code] += 1
        body = response.json()
        assert isinstance(body.get("error"), str) and body["error"].strip(), (what, body)
        if body["error"].startswith(FAYNOSYNC_BARE):
            assert body == {"error": body["error"]}, (what, body)
            continue
        assert isinstance(body.get("message"), str) and body["message"].strip(), (what, body)
    return seen


def test_every_tuf_4xx_has_an_error_and_a_message(api: Api) -> None:
    spec = api.get("/openapi.json").json()
    routes = {
        path: {m for m in ops if m in METHODS}
        for path, ops in spec["paths"].items()
        if path.startswith(TUF)
    }
    assert len(routes) >= 15, routes  # the walk really covers the TUF routes
    ready = "walked"
    cer = ceremony(api.server.key_dir, api.username, ready)
    api.bootstrap_ok(cer.payload)
    anonymous = httpx.Client(base_url=api.server.url, timeout=60)
    answers: list[tuple[str, httpx.Response]] = []
    per_route: dict[tuple[str, str], set[int]] = {}
    for path, methods in routes.items():
        for method in methods:
            params = {
                p["name"] for op in [spec["paths"][path][method]] for p in op.get("parameters", [])
            }
            statuses = per_route.setdefault((method, path), set())
            no_token = anonymous.request(method, path, params={"appName": ready})
            answers.append((f"{method} {path} without a token", no_token))
            statuses.add(no_token.status_code)
            for app in ("Bad Name/..", "x" * 300, "never-bootstrapped", ready):
                query = {"appName": app, **{k: v for k, v in JUNK_QUERY.items() if k in params}}
                for body in _bodies(app):
                    answer = api.http.request(
                        method,
                        path,
                        params=query,
                        content=body,
                        headers={"Content-Type": "application/json"} if body else {},
                    )
                    answers.append((f"{method} {path} {query} {body!r:.80}", answer))
                    statuses.add(answer.status_code)
                answer = api.http.request(method, path)  # no query at all
                answers.append((f"{method} {path} with no query", answer))
                statuses.add(answer.status_code)
        for wrong in sorted(set(METHODS) - methods):
            answers.append((f"{wrong} {path}", api.http.request(wrong, path)))
    # Conflicts: a second bootstrap, recovery of a complete repository.
    again = api.post("/tuf/v1/bootstrap", json=cer.payload)
    answers.append(("second bootstrap", again))
    recover = api.post("/tuf/v1/bootstrap/recovery", json={"appName": ready})
    answers.append(("recovery of a complete repository", recover))
    answers.append(("unknown TUF path", api.get("/tuf/v1/nope")))

    seen = _check(answers)
    assert again.status_code == 409 and recover.status_code == 409
    for status in (400, 401, 404, 405, 409):
        assert seen[status], seen
    for (method, path), statuses in per_route.items():
        assert 401 in statuses, (method, path, statuses)
        assert any(400 <= s < 500 and s != 401 for s in statuses), (method, path, statuses)


def _raw(server: ServerProcess, request: bytes) -> tuple[bytes, dict[str, Any]]:
    """Send ``request`` as bytes; the status line and the JSON body of the answer."""
    url = urlparse(server.url)
    answer = b""
    with contextlib.closing(socket.create_connection((url.hostname, url.port), timeout=30)) as sock:
        sock.sendall(request)
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while data := sock.recv(65536):
                answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], json.loads(body)


def test_limit_refusals_of_tuf_routes_have_a_message(server: ServerProcess) -> None:
    # A declared body past the 16 MiB JSON limit: 413 before anything is read.
    status, body = _raw(
        server,
        b"POST /tuf/v1/bootstrap HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 999999999\r\nConnection: close\r\n\r\n",
    )
    assert b" 413 " in status + b" ", status
    assert body["error"] and body["message"], body
    # Request headers past the 64 KiB head limit: 431.
    status, body = _raw(
        server,
        b"GET /tuf/v1/config?appName=x HTTP/1.1\r\nHost: x\r\nX-Big: "
        + b"a" * 70_000
        + b"\r\n\r\n",
    )
    assert b" 431 " in status + b" ", status
    assert body["error"] and body["message"], body
