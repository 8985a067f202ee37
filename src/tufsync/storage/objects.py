"""The object store: one small async interface over obstore.

Keys are checked with :func:`tufsync.names.is_safe_key` before any call, so
no caller can reach outside the store's root or prefix. In a local directory,
``head`` and the small-file reads of ``open`` go to
:class:`tufsync.storage.localread.LocalFiles` (inline, with a validated
cache; its docstring says what invalidates it); S3 reads always ask S3.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

import obstore
from obstore.store import LocalStore, S3Store

from tufsync.names import is_safe_key
from tufsync.storage.localread import Found, LocalFiles

T = TypeVar("T")


class StorageUnavailable(RuntimeError):
    """The object store could not be reached (maps to 503)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


def _check(key: str) -> str:
    if not is_safe_key(key):
        raise ValueError(f"unsafe object key {key!r}")
    return key


def _is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or type(exc).__name__ == "NotFoundError"


async def _unless_missing(what: str, call: Callable[[], Awaitable[T]]) -> T | None:
    """``call()``'s result; None when the object is missing, StorageUnavailable when
    anything else fails."""
    try:
        return await call()
    except Exception as exc:
        if _is_not_found(exc):
            return None
        raise StorageUnavailable(f"object store {what} failed: {exc}") from exc


class ObjectStore:
    """Async put/get/head/delete/list on one bucket or directory."""

    def __init__(self, store: Any, description: str, local_root: Path | None = None) -> None:
        self._store = store
        self.description = description
        self._local_root = local_root
        self._local = LocalFiles(str(local_root)) if local_root is not None else None

    async def put(self, key: str, data: bytes) -> None:
        try:
            await obstore.put_async(self._store, _check(key), data)
        except ValueError:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"object store write failed: {exc}") from exc

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> None:
        """Stream ``chunks`` into ``key``; errors raised by the iterator propagate."""
        await obstore.put_async(self._store, _check(key), chunks)

    async def get(self, key: str) -> bytes | None:
        """Return the object's bytes, or None when it does not exist."""

        async def read() -> bytes:
            result = await obstore.get_async(self._store, _check(key))
            return bytes(await result.bytes_async())

        return await _unless_missing("read", read)

    async def open(
        self, key: str, inline_limit: int = 0
    ) -> tuple[int, bytes | AsyncIterator[bytes]] | None:
        """Return (size, body) or None when missing; the body is the object's bytes
        when it is at most ``inline_limit`` bytes, else a chunk iterator."""
        _check(key)
        if self._local is not None and inline_limit > 0:
            found = self._read_local(key, inline_limit)
            if found is None:
                return None
            if found.data is not None:
                return found.size, found.data
        result = await _unless_missing("read", lambda: obstore.get_async(self._store, key))
        if result is None:
            return None
        size = int(result.meta["size"])
        if size <= inline_limit:
            try:
                return size, bytes(await result.bytes_async())
            except Exception as exc:
                raise StorageUnavailable(f"object store read failed: {exc}") from exc

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in result.stream(min_chunk_size=256 * 1024):
                yield bytes(chunk)

        return size, chunks()

    def _read_local(self, key: str, inline_limit: int) -> Found | None:
        assert self._local is not None
        try:
            found = self._local.read(key)
        except OSError as exc:
            raise StorageUnavailable(f"object store read failed: {exc}") from exc
        if found is not None and found.data is not None and found.size > inline_limit:
            return Found(found.size, None)
        return found

    async def head(self, key: str) -> ObjectInfo | None:
        _check(key)
        if self._local is not None:
            try:
                st = self._local.stat(key)
            except OSError as exc:
                raise StorageUnavailable(f"object store head failed: {exc}") from exc
            return None if st is None else ObjectInfo(key=key, size=st.st_size)
        meta = await _unless_missing("head", lambda: obstore.head_async(self._store, key))
        return None if meta is None else ObjectInfo(key=key, size=int(meta["size"]))

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    async def move(self, source: str, target: str) -> None:
        """Move ``source`` to ``target`` (replacing it)."""
        try:
            await obstore.rename_async(self._store, _check(source), _check(target))
        except Exception as exc:
            raise StorageUnavailable(f"object store move failed: {exc}") from exc

    async def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""
        await _unless_missing("delete", lambda: obstore.delete_async(self._store, _check(key)))

    async def list(self, prefix: str) -> list[ObjectInfo]:
        _check(prefix.rstrip("/"))
        out: list[ObjectInfo] = []
        try:
            stream = obstore.list(self._store, prefix=prefix)
            async for batch in stream:
                out.extend(ObjectInfo(key=m["path"], size=int(m["size"])) for m in batch)
        except Exception as exc:
            if _is_not_found(exc):
                return out
            raise StorageUnavailable(f"object store list failed: {exc}") from exc
        return out

    @property
    def is_local(self) -> bool:
        """True for a local directory (no network, no other writers in embedded mode)."""
        return self._local_root is not None

    async def delete_older_than(self, prefix: str, age_seconds: float) -> int:
        """Delete what lies under ``prefix`` unchanged for more than ``age_seconds``;
        return how many. In a local directory this includes the partial files
        (``name#N``) an interrupted write leaves, which listing never shows."""
        _check(prefix.rstrip("/"))
        cutoff = time.time() - age_seconds
        if self._local_root is not None:
            return await asyncio.to_thread(_delete_old_files, self._local_root / prefix, cutoff)
        removed = 0
        try:
            async for batch in obstore.list(self._store, prefix=prefix):
                for meta in batch:
                    if meta["last_modified"].timestamp() < cutoff:
                        await self.delete(meta["path"])
                        removed += 1
        except StorageUnavailable:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                return removed
            raise StorageUnavailable(f"object store list failed: {exc}") from exc
        return removed

    async def ping(self) -> None:
        """Raise StorageUnavailable when the store does not answer."""
        try:
            await obstore.head_async(self._store, "tuf_metadata/.ping")
        except Exception as exc:
            if _is_not_found(exc):
                return
            raise StorageUnavailable(f"object store unreachable: {exc}") from exc


def _delete_old_files(folder: Path, cutoff: float) -> int:
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def open_store(
    url: str,
    *,
    s3_endpoint: str | None = None,
    s3_region: str = "us-east-1",
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
) -> ObjectStore:
    """Open ``file:///dir`` or ``s3://bucket/prefix``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        root = Path(parsed.path)
        root.mkdir(parents=True, exist_ok=True)
        return ObjectStore(LocalStore(root, mkdir=True), f"local directory {root}", root)
    if parsed.scheme == "s3":
        config: dict[str, Any] = {"region": s3_region}
        if s3_endpoint:
            config["endpoint"] = s3_endpoint
            config["allow_http"] = s3_endpoint.startswith("http://")
        if s3_access_key_id:
            config["access_key_id"] = s3_access_key_id
        if s3_secret_access_key:
            config["secret_access_key"] = s3_secret_access_key
        prefix = parsed.path.strip("/") or None
        store = S3Store(parsed.netloc, prefix=prefix, **config)
        return ObjectStore(store, f"S3 bucket {parsed.netloc}")
    raise ValueError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket/prefix")


class StoreSettings(Protocol):
    """The settings that name the object store (tufsync.settings.Settings has them)."""

    @property
    def resolved_storage_url(self) -> str: ...

    s3_endpoint: str | None
    s3_region: str
    s3_access_key_id: str | None
    s3_secret_access_key: str | None


def open_configured_store(settings: StoreSettings) -> ObjectStore:
    """The object store the settings name (``TUFSYNC_STORAGE_URL`` and the S3 settings)."""
    return open_store(
        settings.resolved_storage_url,
        s3_endpoint=settings.s3_endpoint,
        s3_region=settings.s3_region,
        s3_access_key_id=settings.s3_access_key_id,
        s3_secret_access_key=settings.s3_secret_access_key,
    )
