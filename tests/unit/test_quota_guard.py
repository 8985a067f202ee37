"""An upload body is refused while it streams, as soon as it passes the quota left
(tufsync.api.quota_guard), and at once when the admin is at the quota or the disk
is below the reserve."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message

from tufsync.api.bodylimit import MULTIPART_ROOM
from tufsync.api.errors import ApiError
from tufsync.api.quota_guard import admit_upload

CHUNK = 64 * 1024


def services(stored: int, quota: int, reserve: int = 0, tmp: Path | None = None) -> Any:
    async def run(fn: Any, owner_id: int) -> int:
        return stored

    settings = SimpleNamespace(
        max_upload_bytes=1 << 30,
        tenant_quota_bytes=quota,
        disk_reserve_bytes=reserve,
        data_dir=tmp,
        storage_url=None,
        database_url=None,
        resolved_storage_url=(tmp or Path("/")).as_uri(),
        resolved_database_url="postgresql+asyncpg://db/x",
    )
    return SimpleNamespace(settings=settings, transactions=SimpleNamespace(run=run))


def request(chunks: int, consumed: list[int], headers: list[tuple[bytes, bytes]]) -> Request:
    async def receive() -> Message:
        consumed.append(CHUNK)
        more = len(consumed) < chunks
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": more}

    scope = {"type": "http", "method": "POST", "path": "/upload", "headers": headers}
    return Request(scope, receive)


async def test_the_body_stops_at_the_quota_left() -> None:
    consumed: list[int] = []
    quota, stored = 10 * (1 << 20), 10 * (1 << 20) - 100_000
    bounded, budget = await admit_upload(request(1000, consumed, []), services(stored, quota), 1)
    assert budget.limit == 100_000
    with pytest.raises(ApiError) as refused:
        async for _ in bounded.stream():
            pass
    assert refused.value.status == 413 and "quota" in refused.value.error
    assert sum(consumed) <= 100_000 + MULTIPART_ROOM + CHUNK  # not the whole 62.5 MiB


async def test_refused_before_reading() -> None:
    consumed: list[int] = []
    at_quota = services(stored=500, quota=500)
    with pytest.raises(ApiError) as refused:
        await admit_upload(request(10, consumed, []), at_quota, 1)
    assert refused.value.status == 413
    declared = [(b"content-length", str(2 * MULTIPART_ROOM).encode())]
    with pytest.raises(ApiError):
        await admit_upload(request(10, consumed, declared), services(0, 1000), 1)
    assert consumed == []


async def test_below_the_reserve_is_507(tmp_path: Path) -> None:
    low = services(stored=0, quota=0, reserve=1 << 62, tmp=tmp_path)
    with pytest.raises(ApiError) as refused:
        await admit_upload(request(1, [], []), low, 1)
    assert refused.value.status == 507 and refused.value.message


async def test_unbounded_when_the_size_limit_binds() -> None:
    plain = request(1, [], [])
    same, budget = await admit_upload(plain, services(stored=0, quota=0), 1)
    assert same is plain and budget.limit == 1 << 30
