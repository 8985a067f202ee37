"""One tenant's TUF repository: its settings, trusted metadata and key access.

``Engine`` bundles the process-wide parts (object store, state store, online
key folders, metadata cache, clock); ``Repository`` scopes them to one
(admin, app) pair, which is the only way the engine touches tenant data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from cachetools import LRUCache
from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp

from tufsync import tenant_keys
from tufsync.state import StateStore
from tufsync.storage import ObjectStore
from tufsync.tuf.clock import Clock, system_clock
from tufsync.tuf.config import RepoConfig
from tufsync.tuf.errors import NotBootstrapped
from tufsync.tuf.keys import OnlineKeyStore
from tufsync.tuf.metastore import MetadataCache, MetadataFiles
from tufsync.tuf.refresh import RefreshSchedule


@dataclass(frozen=True)
class KnownSchedule:
    """A repository's refresh schedule as stored (``raw``), parsed, and the config
    its lifetimes were computed from."""

    raw: str
    schedule: RefreshSchedule
    config: RepoConfig


class ScheduleCache:
    """The last schedule each repository's writer in this process wrote or read.

    An entry is used only when the state store still holds exactly its ``raw``
    text (compared on every use, under the repository lock), so a schedule
    written by another process (scale-out), by recovery or by a settings change
    is parsed afresh: nothing but the stored text decides what the cache returns.
    Bounded (least recently used entries go first).
    """

    def __init__(self, max_entries: int = 256) -> None:
        self._entries: LRUCache[str, KnownSchedule] = LRUCache(maxsize=max_entries)

    def get(self, key: str, raw: str | None) -> KnownSchedule | None:
        known = self._entries.get(key)
        return known if known is not None and known.raw == raw else None

    def put(self, key: str, known: KnownSchedule) -> None:
        self._entries[key] = known


@dataclass
class Engine:
    storage: ObjectStore
    state: StateStore
    keys: OnlineKeyStore
    cache: MetadataCache
    clock: Clock = system_clock
    schedules: ScheduleCache = field(default_factory=ScheduleCache)

    def repo(self, admin: str, app: str) -> Repository:
        return Repository(self, admin, app)


@dataclass
class Trusted:
    """The metadata a client trusts right now (latest published versions)."""

    root: Metadata[Root]
    timestamp: Metadata[Timestamp]
    snapshot: Metadata[Snapshot]
    targets: Metadata[Targets]

    def role_version(self, role: str) -> int:
        return self.snapshot.signed.meta[f"{role}.json"].version


class Repository:
    def __init__(self, engine: Engine, admin: str, app: str) -> None:
        self.engine = engine
        self.ref = tenant_keys.TenantRef(admin, app)
        self.admin = admin
        self.app = app
        self.files = MetadataFiles(engine.storage, engine.cache, self.ref)

    @property
    def state(self) -> StateStore:
        return self.engine.state

    @property
    def lock_name(self) -> str:
        return tenant_keys.repo_lock(self.ref)

    # -- bootstrap marker and settings -----------------------------------
    async def bootstrap_marker(self) -> str | None:
        return await self.state.get(tenant_keys.bootstrap(self.ref))

    async def is_bootstrapped(self) -> bool:
        """Decided by the marker (``<task>`` once complete) and ``timestamp.json``.

        A ``pre-`` marker means a bootstrap is running (not yet complete);
        without any marker (state store lost) a published ``timestamp.json``
        still counts, and recovery restores the rest.
        """
        marker = await self.bootstrap_marker()
        if marker and not marker.startswith(("pre-", "signing-")):
            return True
        if marker and marker.startswith("pre-"):
            return False
        return await self.files.timestamp_exists()

    async def config(self) -> RepoConfig | None:
        raw = await self.state.get(tenant_keys.settings(self.ref))
        return None if raw is None else RepoConfig.from_dict(json.loads(raw))

    async def require_config(self) -> RepoConfig:
        config = await self.config()
        if config is None:
            raise NotBootstrapped(f"app {self.app!r} has no completed bootstrap")
        return config

    @property
    def private_settings_key(self) -> str:
        return tenant_keys.private_settings(self.ref)

    async def save_config(self, config: RepoConfig) -> None:
        """Store settings in the object store copy first, then in the state store."""
        raw = json.dumps(config.to_dict(), sort_keys=True)
        await self.engine.storage.put(self.private_settings_key, raw.encode())
        await self.state.set(tenant_keys.settings(self.ref), raw)

    # -- expiry schedule ----------------------------------------------
    async def schedule(self) -> RefreshSchedule | None:
        raw = await self.state.get(tenant_keys.schedule(self.ref))
        return None if raw is None else RefreshSchedule.from_json(raw)

    async def record_expiries(
        self,
        expiries: dict[str, datetime],
        config: RepoConfig,
        offline_roles: frozenset[str] = frozenset(),
    ) -> None:
        """Merge new expiries into the schedule (caller holds the lock); see
        ``RefreshSchedule.updated`` for which roles count as offline.

        The stored schedule is always read; it is parsed again only when it differs
        from what this process last wrote or read (:class:`ScheduleCache`)."""
        key = tenant_keys.schedule(self.ref)
        raw = await self.state.get(key)
        known = self.engine.schedules.get(key, raw)
        if known is not None:
            current, config_unchanged = known.schedule, known.config == config
        else:
            current, config_unchanged = self._parse_schedule(raw), False
        updated = current.updated(
            expiries, config, offline_roles, config_unchanged=config_unchanged
        )
        new_raw = updated.to_json()
        await self.state.set(key, new_raw)
        self.engine.schedules.put(key, KnownSchedule(new_raw, updated, config))

    def _parse_schedule(self, raw: str | None) -> RefreshSchedule:
        if raw is None:
            return RefreshSchedule(self.admin, self.app, {}, {})
        return RefreshSchedule.from_json(raw)

    # -- trusted metadata ----------------------------------------------
    async def trusted(self) -> Trusted:
        root = await self.files.latest_root()
        timestamp = await self.files.timestamp()
        if root is None or timestamp is None:
            raise NotBootstrapped(f"app {self.app!r} has no published metadata")
        snapshot = await self.files.snapshot(timestamp.signed.snapshot_meta.version)
        if snapshot is None:
            raise NotBootstrapped(f"snapshot of app {self.app!r} is missing")
        targets = await self.files.targets_role(
            "targets", snapshot.signed.meta["targets.json"].version
        )
        if targets is None:
            raise NotBootstrapped(f"targets of app {self.app!r} is missing")
        return Trusted(root, timestamp, snapshot, targets)

    async def delegated(self, trusted: Trusted, role: str) -> Metadata[Targets] | None:
        meta = trusted.snapshot.signed.meta.get(f"{role}.json")
        if meta is None:
            return None
        return await self.files.targets_role(role, meta.version)
