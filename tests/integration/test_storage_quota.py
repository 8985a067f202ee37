"""Per-tenant storage quota and the disk reserve (README "Limits"), over HTTP.

A tenant past its quota is refused (413, a sentence in ``error`` and ``message``)
before anything is stored, concurrent uploads never pass the quota together, and
other tenants go on uploading. With free space below the reserve uploads are
refused (507) while deletions, publishes and the refresh task still work.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import PASSWORD, Api, ServerProcess, ceremony, run_server, unique_name
from tufsync import tenant_keys

QUOTA = 100_000
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "TUFSYNC_TENANT_QUOTA_BYTES": str(QUOTA),
        "TUFSYNC_MAX_UPLOAD_BYTES": str(4 * MIB),
    }
    with run_server(tmp_path_factory.mktemp("quota"), env) as proc:
        yield proc


class ReturningApi(Api):
    """An admin who signed up before this server started: logs in only."""

    def _login(self) -> str:
        response = self.http.post("/login", json={"username": self.username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])


def staging_leftovers(server: ServerProcess) -> list[Path]:
    staging = server.public_dir / tenant_keys.STAGING_PREFIX
    return [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []


def versions(api: Api, app: str) -> list[str]:
    items = api.get("/search", params={"app_name": app, "limit": 1000}).json()["items"]
    return sorted(v["Version"] for v in items)


def stored(api: Api) -> int:
    items = api.get("/search", params={"limit": 1000}).json()["items"]
    return sum(int(a["Length"]) for v in items for a in v["Artifacts"])


def assert_refused(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert fragment in body["error"], body
    assert body["error"].endswith(".") and body["message"].endswith("."), body


def test_past_the_quota_nothing_is_stored_and_others_still_upload(
    quota_server: ServerProcess,
) -> None:
    alice, bob = Api(quota_server, unique_name()), Api(quota_server, unique_name())
    alice.upload_ok("q", "1.0", {"a.bin": b"a" * 60_000})
    # One chunk (a single put) and a streamed file of several chunks: both stop at the quota.
    for version, size in (("2.0", 50_000), ("3.0", 2 * MIB + 5)):
        refused = alice.upload("q", version, {"a.bin": b"b" * size})
        assert_refused(refused, 413, "quota")
        assert f"quota of {QUOTA} bytes" in refused.json()["error"]
    # Two files whose sum passes the quota: the first is staged, then both are dropped.
    refused = alice.upload("q", "4.0", {"a.bin": b"c" * 30_000, "a.deb": b"d" * 30_000})
    assert_refused(refused, 413, "quota")
    assert versions(alice, "q") == ["1.0"]
    assert staging_leftovers(quota_server) == []
    # Up to the quota exactly is fine; then even one byte is refused before it is read.
    alice.upload_ok("q", "5.0", {"a.bin": b"e" * (QUOTA - 60_000)})
    assert stored(alice) == QUOTA
    assert_refused(alice.upload("q", "6.0", {"a.bin": b"f"}), 413, "quota")
    # Another tenant is not affected.
    bob.upload_ok("q", "1.0", {"a.bin": b"g" * 90_000})
    # Deleting frees the room again.
    first = next(
        v
        for v in alice.get("/search", params={"app_name": "q"}).json()["items"]
        if v["Version"] == "1.0"
    )
    gone = alice.http.delete("/apps/delete", params={"id": first["ID"]})
    assert gone.status_code == 200, gone.text
    alice.upload_ok("q", "6.0", {"a.bin": b"f" * 50_000})
    assert versions(alice, "q") == ["5.0", "6.0"]
    assert staging_leftovers(quota_server) == []


def test_a_version_edit_with_files_counts_too(quota_server: ServerProcess) -> None:
    api = Api(quota_server, unique_name())
    version_id = api.upload_ok("edit", "1.0", {"a.bin": b"a" * 90_000})
    body: dict[str, Any] = {"id": version_id, "app_name": "edit", "version": "1.0"}
    response = api.post(
        "/apps/update",
        data={**body, "platform": "linux"},
        files=[("file", ("b.bin", b"b" * 20_000))],
    )
    assert_refused(response, 413, "quota")
    assert [a["TufPath"] for a in api.version("edit", version_id)["Artifacts"]] == [
        f"edit-{api.username}/edit-1.0.bin"
    ]
    assert staging_leftovers(quota_server) == []


def test_concurrent_uploads_never_pass_the_quota_together(quota_server: ServerProcess) -> None:
    api = Api(quota_server, unique_name())

    def one(i: int) -> int:
        return api.upload("race", f"1.{i}", {"a.bin": bytes([i]) * 30_000}).status_code

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert sorted(set(answers)) == [200, 413], answers
    assert answers.count(200) == QUOTA // 30_000
    assert stored(api) <= QUOTA
    assert staging_leftovers(quota_server) == []


def test_below_the_reserve_uploads_are_refused_but_removal_publish_and_refresh_work(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "reserve"
    username = unique_name()
    with run_server(data_dir) as server:
        api = Api(server, username)
        api.bootstrap_ok(ceremony(server.key_dir, username, "full").payload)
        publish_id = api.upload_ok("full", "1.0", {"a.bin": b"publish me"})
        delete_id = api.upload_ok("full", "2.0", {"a.bin": b"delete me", "a.deb": b"me too"})
    # A reserve larger than any disk: the server sees its filesystem as nearly full.
    with run_server(data_dir, {"TUFSYNC_DISK_RESERVE_BYTES": str(1 << 62)}) as server:
        api = ReturningApi(server, username)
        assert_refused(api.upload("full", "3.0", {"a.bin": b"x"}), 507, "disk space")
        edit = api.post(
            "/apps/update",
            data={"id": delete_id, "app_name": "full", "version": "2.0", "platform": "linux"},
            files=[("file", ("b.bin", b"y"))],
        )
        assert_refused(edit, 507, "disk space")
        assert versions(api, "full") == ["1.0", "2.0"]
        assert staging_leftovers(server) == []

        removal = {"id": delete_id, "app_name": "full", "version": "2.0"}
        deleted = api.post("/artifact/delete", json={**removal, "artifacts_to_delete": ["0"]})
        assert deleted.status_code == 200, deleted.text
        assert len(api.version("full", delete_id)["Artifacts"]) == 1
        api.publish_ok(publish_id, "1.0")
        assert api.version("full", publish_id)["Artifacts"][0]["TufSigned"] is True
        # The refresh task (the one the scheduler queues), asked for by the admin.
        response = api.post("/tuf/v1/metadata/online", params={"appName": "full"}, json={})
        assert response.status_code == 200, response.text
        assert api.wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"
        gone = api.http.delete("/apps/delete", params={"id": delete_id})
        assert gone.status_code == 200, gone.text


def test_a_chunked_body_stops_at_the_quota_while_it_streams(quota_server: ServerProcess) -> None:
    api = Api(quota_server, unique_name())
    api.upload_ok("stream", "1.0", {"a.bin": b"a" * 90_000})
    boundary = "quota-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n'
        '{"app_name": "stream", "version": "2.0"}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:  # no Content-Length: chunked
        yield head
        for _ in range(64):
            yield b"x" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        response = api.http.post(
            "/upload",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    except httpx.HTTPError:  # the server may close before the client has sent everything
        response = None
    if response is not None:
        assert_refused(response, 413, "quota")
    assert versions(api, "stream") == ["1.0"]
    assert staging_leftovers(quota_server) == []
