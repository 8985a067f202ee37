"""Reading and writing one repository's metadata files in the object store.

Consistent-snapshot files (``<N>.<role>.json``) are immutable, so their parsed
form is cached per process by file name; only ``timestamp.json`` is read fresh
each time. Callers that change a role *take* it out of the cache, so a failed
change can never leave a half-modified object behind.
"""

from __future__ import annotations

import json
from typing import Any

from cachetools import LRUCache
from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp
from tuf.api.serialization import DeserializationError
from tuf.api.serialization.json import JSONSerializer

from tufsync import tenant_keys
from tufsync.storage import ObjectStore

_SERIALIZER = JSONSerializer(compact=True)


def to_bytes(md: Metadata[Any]) -> bytes:
    return md.to_bytes(_SERIALIZER)


def versioned_name(role: str, version: int) -> str:
    return f"{version}.{role}.json"


class MetadataCache:
    """A small LRU of parsed immutable metadata files, shared by all repositories."""

    def __init__(self, max_entries: int = 512) -> None:
        self._entries: LRUCache[str, Metadata[Any]] = LRUCache(maxsize=max_entries)
        self._root_versions: dict[str, int] = {}

    def get(self, key: str) -> Metadata[Any] | None:
        return self._entries.get(key)

    def put(self, key: str, md: Metadata[Any]) -> None:
        self._entries[key] = md

    def take(self, key: str) -> Metadata[Any] | None:
        return self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
        self._root_versions.pop(prefix, None)

    def root_version_hint(self, prefix: str) -> int | None:
        """The newest root version this process has seen (root files are never removed
        once published), or None."""
        return self._root_versions.get(prefix)

    def set_root_version(self, prefix: str, version: int) -> None:
        self._root_versions[prefix] = version


class MetadataFiles:
    """The metadata files of one (admin, app) repository."""

    def __init__(
        self, storage: ObjectStore, cache: MetadataCache, ref: tenant_keys.TenantRef
    ) -> None:
        self.storage = storage
        self.cache = cache
        self.prefix = tenant_keys.metadata_prefix(ref)

    def key(self, filename: str) -> str:
        return self.prefix + filename

    async def read_bytes(self, filename: str) -> bytes | None:
        return await self.storage.get(self.key(filename))

    async def _load(self, filename: str, *, take: bool = False) -> Metadata[Any] | None:
        key = self.key(filename)
        md = self.cache.take(key) if take else self.cache.get(key)
        if md is not None:
            return md
        data = await self.storage.get(key)
        if data is None:
            return None
        md = Metadata.from_bytes(data)
        if not take:
            self.cache.put(key, md)
        return md

    async def timestamp(self) -> Metadata[Timestamp] | None:
        data = await self.storage.get(self.key("timestamp.json"))
        return None if data is None else Metadata[Timestamp].from_bytes(data)

    async def published_snapshot_version(self) -> int | None:
        """The snapshot version the published ``timestamp.json`` names (None when there
        is none), read without building python-tuf objects: the hot path of uploads
        asks only this (the file is the server's own; nothing here verifies it)."""
        data = await self.storage.get(self.key("timestamp.json"))
        if data is None:
            return None
        try:
            version = json.loads(data)["signed"]["meta"]["snapshot.json"]["version"]
        except (ValueError, KeyError, TypeError):
            raise DeserializationError("timestamp.json is not TUF timestamp metadata") from None
        if not isinstance(version, int):
            raise DeserializationError("timestamp.json names no snapshot version")
        return version

    async def timestamp_exists(self) -> bool:
        return await self.storage.exists(self.key("timestamp.json"))

    async def latest_root(self) -> Metadata[Root] | None:
        """The newest ``<N>.root.json``, probing upward from the last known version."""
        version = self.cache.root_version_hint(self.prefix)
        if version is None:
            if not await self.storage.exists(self.key(versioned_name("root", 1))):
                return None
            version = 1
        while await self.storage.exists(self.key(versioned_name("root", version + 1))):
            version += 1
        self.cache.set_root_version(self.prefix, version)
        md = await self._load(versioned_name("root", version))
        return md  # type: ignore[return-value]

    async def snapshot(self, version: int, *, take: bool = False) -> Metadata[Snapshot] | None:
        return await self._load(versioned_name("snapshot", version), take=take)  # type: ignore[return-value]

    async def targets_role(
        self, role: str, version: int, *, take: bool = False
    ) -> Metadata[Targets] | None:
        return await self._load(versioned_name(role, version), take=take)  # type: ignore[return-value]

    def remember(self, filename: str, md: Metadata[Any]) -> None:
        """Cache a file this process has just written."""
        if filename != "timestamp.json":
            self.cache.put(self.key(filename), md)

    def forget_all(self) -> None:
        self.cache.forget_prefix(self.prefix)
