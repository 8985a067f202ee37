"""One contract suite for the object store: local directory and a real S3 endpoint (moto)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scaleout import S3Endpoint
from tufsync.storage import ObjectStore, open_store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store((tmp_path / "store").as_uri())
    endpoint: S3Endpoint = request.getfixturevalue("s3")
    return open_store(
        endpoint.storage_url(f"contract-{uuid.uuid4().hex[:8]}"),
        s3_endpoint=endpoint.url,
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )


async def chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_put_get_head_delete(store: ObjectStore) -> None:
    await store.ping()
    assert await store.get("tuf_metadata/a/b/1.root.json") is None
    await store.put("tuf_metadata/a/b/1.root.json", b"{}")
    assert await store.get("tuf_metadata/a/b/1.root.json") == b"{}"
    info = await store.head("tuf_metadata/a/b/1.root.json")
    assert info is not None and info.size == 2
    await store.delete("tuf_metadata/a/b/1.root.json")
    await store.delete("tuf_metadata/a/b/1.root.json")  # missing is fine
    assert not await store.exists("tuf_metadata/a/b/1.root.json")


async def test_stream_open_move_list(store: ObjectStore) -> None:
    data = [b"x" * 300_000, b"y" * 300_000, b"z"]
    await store.put_stream("tuf_private/staging/s1", chunks(data))
    await store.move("tuf_private/staging/s1", "app-bob/default/linux/x64/app-1.deb")
    assert not await store.exists("tuf_private/staging/s1")
    opened = await store.open("app-bob/default/linux/x64/app-1.deb")
    assert opened is not None
    size, body = opened
    received = b"".join([c async for c in body])
    assert size == len(received) == 600_001 and received == b"".join(data)
    await store.put("app-bob/default/linux/x64/app-2.deb", b"2")
    listed = sorted(i.key for i in await store.list("app-bob/"))
    assert listed == ["app-bob/default/linux/x64/app-1.deb", "app-bob/default/linux/x64/app-2.deb"]
    assert await store.open("app-bob/none") is None


async def test_unsafe_keys_are_refused(store: ObjectStore) -> None:
    for key in ("../x", "/abs", "a//b", "a\\b", "a/./b", ""):
        with pytest.raises(ValueError):
            await store.put(key, b"x")


async def test_small_reads_are_fresh_and_large_ones_stream(store: ObjectStore) -> None:
    """``open`` with an inline limit: bytes for small objects, a stream beyond it; a new
    version and a deletion are seen by the next read (no stale copy in either backend)."""
    key = "tuf_metadata/a/b/timestamp.json"
    await store.put(key, b"version-1")
    assert await store.open(key, 64) == (9, b"version-1")
    await store.put(key, b"version-2")
    assert await store.open(key, 64) == (9, b"version-2")
    head = await store.head(key)
    assert head is not None and head.size == 9
    await store.delete(key)
    assert await store.open(key, 64) is None
    assert await store.head(key) is None
    await store.put("app-bob/default/big.bin", b"b" * 100)
    opened = await store.open("app-bob/default/big.bin", 64)
    assert opened is not None
    size, body = opened
    assert size == 100 and not isinstance(body, bytes)
    assert b"".join([c async for c in body]) == b"b" * 100
    assert await store.open("tuf_metadata/a/b/timestamp.json#1", 64) is None
