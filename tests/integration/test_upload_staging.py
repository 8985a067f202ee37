"""Staging an upload: a file of one chunk is staged with one put, a larger one
is streamed; both are hashed on the way, and a file past the limit leaves nothing behind."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from tufsync import tenant_keys
from tufsync.registry.uploads import CHUNK, UploadTooLarge, stage_file
from tufsync.storage.objects import open_store


class _Source:
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    async def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


@pytest.mark.parametrize("size", [0, 1024, CHUNK, CHUNK + 1, 2 * CHUNK + 7])
async def test_staged_bytes_and_hashes(tmp_path: Path, size: int) -> None:
    storage = open_store(f"file://{tmp_path}")
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    staged = await stage_file(storage, _Source(data), 3 * CHUNK)
    assert staged.staging_key.startswith(tenant_keys.STAGING_PREFIX)
    assert await storage.get(staged.staging_key) == data
    assert staged.length == size
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.sha512 == hashlib.sha512(data).hexdigest()


@pytest.mark.parametrize("size", [1025, CHUNK + 1, 2 * CHUNK + 1])
async def test_past_the_limit_nothing_stays(tmp_path: Path, size: int) -> None:
    storage = open_store(f"file://{tmp_path}")
    limit = size - 1
    with pytest.raises(UploadTooLarge):
        await stage_file(storage, _Source(b"y" * size), limit)
    assert await storage.list(tenant_keys.STAGING_PREFIX) == []
