"""Streaming an upload into the object store while hashing it.

Bytes go to a private staging key first; only after the registry row is in
place is the object moved to its public key, so a failed or conflicting
upload never leaves anything at a public key. A file that fits in one chunk
(the common case) is written with a single ``put``, which is as atomic as a
streamed write (a temporary file renamed into place, or one S3 PUT) and costs
one object-store call instead of a multipart upload's three or more.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from tufsync import tenant_keys
from tufsync.storage import ObjectStore, StorageUnavailable

CHUNK = 1024 * 1024


class Readable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


class UploadTooLarge(Exception):
    """The upload went past the configured size limit."""


@dataclass(frozen=True)
class StagedFile:
    staging_key: str
    length: int
    sha256: str
    sha512: str


def staging_key() -> str:
    return tenant_keys.staging_upload(uuid.uuid4().hex)


async def sweep_staging(storage: ObjectStore, older_than_seconds: float) -> int:
    """Delete staging objects (and partial writes) older than ``older_than_seconds``:
    what uploads left behind when their process died (docs/api.md §6 "Limits")."""
    return await storage.delete_older_than(tenant_keys.STAGING_PREFIX, older_than_seconds)


Guard = Callable[[int], None]


async def stage_file(
    storage: ObjectStore, source: Readable, limit: int, guard: Guard | None = None
) -> StagedFile:
    """Copy ``source`` to a staging key, computing length, sha256 and sha512 on the way.

    ``guard`` (if any) is called with the bytes counted so far before each chunk is
    written, and may raise to stop the upload (the disk reserve, tufsync.registry.quota).
    """
    first = await source.read(CHUNK)
    if len(first) > limit:
        raise UploadTooLarge()
    second = await source.read(CHUNK) if len(first) == CHUNK else b""
    if guard is not None:
        guard(len(first))
    if not second:
        return await _stage_whole(storage, first)
    return await _stage_stream(storage, source, limit, (first, second), guard)


async def _stage_whole(storage: ObjectStore, data: bytes) -> StagedFile:
    """Stage a file read whole (at most one chunk) with a single put."""
    key = staging_key()
    try:
        await storage.put(key, data)
    except BaseException:
        await storage.delete(key)
        raise
    return StagedFile(
        key, len(data), hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest()
    )


async def _stage_stream(
    storage: ObjectStore,
    source: Readable,
    limit: int,
    head: tuple[bytes, ...],
    guard: Guard | None = None,
) -> StagedFile:
    """Stream a larger file (``head`` holds the chunks read already) to a staging key.

    A failed write (the store's error, e.g. a full disk) is :class:`StorageUnavailable`;
    what the iterator itself raised (size limit, ``guard``) propagates as raised.
    """
    sha256 = hashlib.sha256()
    sha512 = hashlib.sha512()
    length = 0
    stopped: list[Exception] = []
    pending = list(head)

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal length
        while True:
            chunk = pending.pop(0) if pending else await source.read(CHUNK)
            if not chunk:
                break
            length += len(chunk)
            try:
                if length > limit:
                    raise UploadTooLarge()
                if guard is not None:
                    guard(length)
            except Exception as exc:
                stopped.append(exc)
                raise
            sha256.update(chunk)
            sha512.update(chunk)
            yield chunk

    key = staging_key()
    try:
        await storage.put_stream(key, chunks())
    except BaseException as exc:
        await storage.delete(key)
        if stopped:
            raise stopped[0] from None
        if isinstance(exc, Exception) and not isinstance(exc, StorageUnavailable):
            raise StorageUnavailable(f"object store write failed: {exc}") from exc
        raise
    return StagedFile(key, length, sha256.hexdigest(), sha512.hexdigest())
