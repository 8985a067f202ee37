"""GET/HEAD /public/<key> over HTTP: headers, freshness of the small-file cache, hostile keys.

Files are written into the running server's public directory through the same
object store the worker writes with (obstore: write a new file, then rename).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support import Api, unique_name
from tufsync.storage import ObjectStore, open_store
from tufsync.storage.localread import SETTLE_SECONDS


@pytest.fixture
def store(api: Api) -> ObjectStore:
    return open_store(api.server.public_dir.as_uri())


@pytest.fixture
def folder(api: Api) -> Iterator[str]:
    yield f"tuf_metadata/{api.username}/{unique_name('app')}"


def wait_settled() -> None:
    """Let files age past the cache's settle time, so the server caches them."""
    time.sleep(SETTLE_SECONDS + 0.2)


async def test_headers_and_bodies(api: Api, store: ObjectStore, folder: str) -> None:
    await store.put(f"{folder}/timestamp.json", b'{"v": 1}')
    await store.put(f"{folder}/3.snapshot.json", b'{"s": 3}')
    await store.put(f"{api.username}-app1/default/a.bin", b"\x00artifact")
    for _ in range(2):  # the second read may come from the cache
        ts = api.http.get(f"/public/{folder}/timestamp.json")
        assert ts.status_code == 200 and ts.content == b'{"v": 1}'
        assert ts.headers["content-type"] == "application/json"
        assert ts.headers["content-length"] == "8"
        assert ts.headers["cache-control"] == "no-cache"
        snap = api.http.get(f"/public/{folder}/3.snapshot.json")
        assert snap.content == b'{"s": 3}' and "cache-control" not in snap.headers
        art = api.http.get(f"/public/{api.username}-app1/default/a.bin")
        assert art.content == b"\x00artifact"
        assert art.headers["content-type"] == "application/octet-stream"
    head = api.http.head(f"/public/{folder}/timestamp.json")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "8" and head.headers["cache-control"] == "no-cache"
    assert api.http.head(f"/public/{folder}/4.snapshot.json").status_code == 404


async def test_new_timestamp_is_served_at_once(api: Api, store: ObjectStore, folder: str) -> None:
    key = f"{folder}/timestamp.json"
    await store.put(key, b'{"version": 1}')
    wait_settled()
    for _ in range(3):
        assert api.http.get(f"/public/{key}").content == b'{"version": 1}'
    await store.put(key, b'{"version": 2}')  # same size: only the content differs
    assert api.http.get(f"/public/{key}").content == b'{"version": 2}'
    assert api.http.head(f"/public/{key}").headers["content-length"] == "14"
    await store.put(key, b'{"version": 10}')
    response = api.http.get(f"/public/{key}")
    assert response.content == b'{"version": 10}' and response.headers["content-length"] == "15"


async def test_deleted_files_are_gone_at_once(api: Api, store: ObjectStore, folder: str) -> None:
    keys = [f"{folder}/timestamp.json", f"{folder}/1.root.json", f"{folder}/2.root.json"]
    for key in keys:
        await store.put(key, b"{}")
    wait_settled()
    for key in keys:
        assert api.http.get(f"/public/{key}").status_code == 200
    await store.delete(keys[0])
    assert api.http.get(f"/public/{keys[0]}").status_code == 404
    assert api.http.head(f"/public/{keys[0]}").status_code == 404
    # An app deletion removes the whole folder.
    for path in (api.server.public_dir / folder).iterdir():
        path.unlink()
    (api.server.public_dir / folder).rmdir()
    for key in keys:
        response = api.http.get(f"/public/{key}")
        assert response.status_code == 404 and response.json() == {"error": "Not found"}


async def test_large_files_stream_whole(api: Api, store: ObjectStore) -> None:
    key = f"{api.username}-big/default/linux/big.bin"
    data = bytes(range(256)) * 4096 + b"end"  # 1 MiB + 3 bytes, beyond the inline limit
    await store.put(key, data)
    response = api.http.get(f"/public/{key}")
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-length"] == str(len(data))
    assert api.http.head(f"/public/{key}").headers["content-length"] == str(len(data))


async def test_partial_files_symlinks_and_folders_are_not_found(
    api: Api, store: ObjectStore, folder: str
) -> None:
    await store.put(f"{folder}/timestamp.json", b"{}")
    partial = api.server.public_dir / folder / "timestamp.json#7"
    partial.write_bytes(b'{"half')
    secret = api.server.public_dir / "tuf_private" / unique_name() / "settings.json"
    secret.parent.mkdir(parents=True)
    secret.write_text('{"secret": 1}')
    (api.server.public_dir / folder / "link.json").symlink_to(secret)
    for key in (
        f"{folder}/timestamp.json%237",
        f"{folder}/link.json",
        folder,
        f"{folder}/",
        f"{folder}/timestamp.json/x",
        f"{folder}/%2e%2e/%2e%2e/%2e%2e/tuf_private",
        f"{folder}%2F..%2F..%2F..%2Ftuf_private%2Fx",
        f"{folder}/{'n' * 300}.json",
        f"{folder}/tab%09.json",
    ):
        for method in ("GET", "HEAD"):
            response = api.http.request(method, f"/public/{key}")
            assert response.status_code == 404, (method, key)
        assert api.http.get(f"/public/{key}").json() == {"error": "Not found"}
