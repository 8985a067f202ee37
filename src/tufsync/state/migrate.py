"""State-store migration from the old key names to :mod:`tufsync.tenant_keys`.

Schema 1 (up to tufsync 0.x) named entries ``BOOTSTRAP_<admin>_<app>``,
``SETTINGS_<admin>_<app>``, ``<ROLE>_SIGNING_<admin>_<app>``,
``RECOVERY_<admin>_<app>``, ``REPO_<admin>/<app>``, ``BATCH_<admin>/<app>``,
``TASK_<id>`` and a few locks. Schema 2 is :mod:`tufsync.tenant_keys`; the
entry ``system:state-schema`` holds the schema number.

``tufsync db upgrade`` runs :func:`upgrade` (the embedded mode runs it at
start-up on its own SQLite store, as it does for its database); a scale-out
process refuses to start while :func:`pending` is true. Stop every tufsync
process before upgrading.

Each old entry is renamed (value and time-to-live kept), one atomic rename at a
time, so an interrupted upgrade simply continues when run again:

* task records, refresh schedules and batch sets name their repository
  unambiguously (a ``/`` or the record's own fields): moved.
* locks, fencing counters and "refresh queued" markers are short-lived:
  deleted (their holders are stopped).
* ``<KIND>_<admin>_<app>`` is ambiguous when ``_`` occurs in both names (the
  defect this migration ends: ``john``/``doe_x`` and ``john_doe``/``x`` shared
  these entries). The owner is decided, in this order, by the task named in
  the value (a bootstrap marker, recovery marker or the settings' bootstrap
  id names a task record, which names its admin and app); by the only valid
  split; by the only split that is a known repository (a refresh schedule or
  published ``1.root.json``). An entry no rule decides is given to nobody: it
  is moved to ``system:unmigrated:<old key>`` and reported. Its repository's
  owner rebuilds marker, settings and schedule from the published metadata
  with ``POST /tuf/v1/bootstrap/recovery``; a lost draft is posted again.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tufsync import tenant_keys
from tufsync.names import InvalidName
from tufsync.state.base import StateStore
from tufsync.storage import ObjectStore
from tufsync.tenant_keys import TenantRef

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"
UNMIGRATED_PREFIX = "system:unmigrated:"
_OLD_PREFIXES = (
    "BOOTSTRAP_",
    "SETTINGS_",
    "RECOVERY_",
    "REPO_",
    "BATCH_",
    "TASK_",
    "LOCK_",
    "FENCE_",
    "REFRESH_QUEUED_",
)
_OLD_DRAFT = re.compile(r"^[A-Z0-9][A-Z0-9._-]*_SIGNING_")
_EPHEMERAL = ("LOCK_", "FENCE_", "REFRESH_QUEUED_")


def is_old_key(key: str) -> bool:
    """True for a name the schema-1 code wrote (new names always contain ``:``)."""
    return ":" not in key and (key.startswith(_OLD_PREFIXES) or bool(_OLD_DRAFT.match(key)))


@dataclass
class MigrationReport:
    moved: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    unresolved: dict[str, str] = field(default_factory=dict)
    """Old key → why it could not be given to one repository."""


async def pending(store: StateStore) -> bool:
    """True while the store holds entries under schema-1 names.

    A store with no old entries is marked current here, so a new installation
    never needs ``tufsync db upgrade`` for its state store.
    """
    if await store.get(tenant_keys.STATE_SCHEMA) == SCHEMA_VERSION:
        return False
    if any(is_old_key(k) for k in await store.keys("")):
        return True
    await store.set(tenant_keys.STATE_SCHEMA, SCHEMA_VERSION)
    return False


def _split_candidates(text: str) -> list[TenantRef]:
    """Every (admin, app) whose ``<admin>_<app>`` is ``text`` under the naming rules."""
    found = []
    for i, char in enumerate(text):
        if char != "_":
            continue
        try:
            found.append(TenantRef(text[:i], text[i + 1 :]))
        except InvalidName:
            continue
    return found


def _slash_ref(text: str) -> TenantRef | None:
    admin, sep, app = text.partition("/")
    if not sep:
        return None
    try:
        return TenantRef(admin, app)
    except InvalidName:
        return None


def _json(raw: str | None) -> object:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _task_of_marker(value: str | None) -> str | None:
    if not value:
        return None
    for prefix in ("pre-", "signing-"):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


@dataclass(frozen=True)
class Moved:
    """The entry is renamed to ``key``."""

    key: str


@dataclass(frozen=True)
class Dropped:
    """The entry is deleted (locks, fencing counters, queued markers: short-lived)."""


@dataclass(frozen=True)
class Unresolved:
    """No rule gives the entry to one repository; ``reason`` says why."""

    reason: str


NewName = Moved | Dropped | Unresolved
_Rule = Callable[[str, str | None, object], Awaitable[NewName]]


class _Planner:
    """Decides the new name of every old entry (pure, apart from object-store lookups)."""

    def __init__(self, values: dict[str, str], storage: ObjectStore | None) -> None:
        self.values = values
        self.storage = storage
        self.owners: dict[str, TenantRef] = {}
        self.known: set[TenantRef] = set()
        self._rules: tuple[tuple[str, _Rule], ...] = (
            ("TASK_", self._task),
            ("REPO_", self._schedule),
            ("BATCH_", self._batch),
            ("BOOTSTRAP_", self._marker(tenant_keys.bootstrap)),
            ("SETTINGS_", self._settings),
            ("RECOVERY_", self._marker(tenant_keys.recovery)),
        )

    def learn(self, names: list[str]) -> None:
        """Collect evidence: task owners and repositories with a schedule."""
        for name in names:
            data = _json(self.values.get(name))
            if not isinstance(data, dict):
                continue
            if name.startswith("TASK_") and data.get("task_id") == name[5:]:
                try:
                    self.owners[name[5:]] = TenantRef(data["admin"], data["app"])
                except (InvalidName, KeyError, TypeError):
                    continue
            if name.startswith("REPO_"):
                ref = _slash_ref(name[5:])
                if ref is not None and (data.get("admin"), data.get("app")) == (ref.admin, ref.app):
                    self.known.add(ref)

    async def _is_known(self, ref: TenantRef) -> bool:
        """A repository with a refresh schedule or a published ``1.root.json``."""
        if ref in self.known:
            return True
        if self.storage is None:
            return False
        return await self.storage.exists(tenant_keys.metadata_prefix(ref) + "1.root.json")

    async def owner(self, text: str, task_id: str | None) -> TenantRef | Unresolved:
        """The repository of ``<admin>_<app>`` text, or why it cannot be decided (the
        order of the rules is the module docstring's)."""
        candidates = _split_candidates(text)
        if not candidates:
            return Unresolved(f"{text!r} is no valid <admin>_<app>")
        by_task = self.owners.get(task_id) if task_id else None
        if by_task is not None and by_task in candidates:
            return by_task
        return await self._only_candidate(candidates)

    async def _only_candidate(self, candidates: list[TenantRef]) -> TenantRef | Unresolved:
        """The only split, else the only known repository among the splits."""
        if len(candidates) == 1:
            return candidates[0]
        known = [c for c in candidates if await self._is_known(c)]
        if len(known) == 1:
            return known[0]
        names = ", ".join(f"{c.admin}/{c.app}" for c in (known or candidates))
        return Unresolved(f"could belong to any of {names}")

    async def _tenant_entry(
        self, text: str, task_id: str | None, build: Callable[[TenantRef], str]
    ) -> NewName:
        ref = await self.owner(text, task_id)
        return ref if isinstance(ref, Unresolved) else Moved(build(ref))

    async def _draft(self, name: str, data: object) -> NewName | None:
        """A signing draft ``<ROLE>_SIGNING_<admin>_<app>`` (its value names the role)."""
        if not isinstance(data, dict) or not {"role", "metadata", "trusted_version"} <= set(data):
            return None
        role = data["role"]
        head = f"{role.upper()}_SIGNING_" if isinstance(role, str) else ""
        if not head or not name.startswith(head):
            return None
        ref = await self.owner(name[len(head) :], None)
        if isinstance(ref, Unresolved):
            return ref
        try:
            return Moved(tenant_keys.draft(ref, role))
        except InvalidName as exc:
            return Unresolved(str(exc))

    async def _task(self, task_id: str, raw: str | None, data: object) -> NewName:
        if task_id in self.owners:
            return Moved(tenant_keys.task(task_id))
        return Unresolved("not a readable task record")

    async def _schedule(self, text: str, raw: str | None, data: object) -> NewName:
        found = _slash_ref(text)
        if found is None or found not in self.known:
            return Unresolved("not a readable refresh schedule")
        return Moved(tenant_keys.schedule(found))

    async def _batch(self, text: str, raw: str | None, data: object) -> NewName:
        batch = _slash_ref(text)
        if batch is None:
            return Unresolved("not a batch of one repository")
        return Moved(tenant_keys.target_batch(batch))

    def _marker(self, build: Callable[[TenantRef], str]) -> _Rule:
        """A bootstrap or recovery marker: its value names the task that set it."""

        async def rule(text: str, raw: str | None, data: object) -> NewName:
            return await self._tenant_entry(text, _task_of_marker(raw), build)

        return rule

    async def _settings(self, text: str, raw: str | None, data: object) -> NewName:
        """Settings: their ``bootstrap`` field names the bootstrap task."""
        bootstrap_id = data.get("bootstrap") if isinstance(data, dict) else None
        task_id = bootstrap_id if isinstance(bootstrap_id, str) else None
        return await self._tenant_entry(text, task_id, tenant_keys.settings)

    async def new_name(self, name: str) -> NewName:
        """Where the old entry ``name`` goes."""
        raw = self.values.get(name)
        data = _json(raw)
        draft = await self._draft(name, data)
        if draft is not None:
            return draft
        if name.startswith(_EPHEMERAL):
            return Dropped()
        for head, rule in self._rules:
            if name.startswith(head):
                return await rule(name[len(head) :], raw, data)
        return Unresolved("no rule applies")


async def _apply(store: StateStore, report: MigrationReport, name: str, plan: NewName) -> None:
    """Carry out ``plan`` for the old entry ``name`` and record it in ``report``."""
    if isinstance(plan, Dropped):
        await store.delete(name)
        report.dropped.append(name)
        return
    if isinstance(plan, Moved):
        if await store.rename(name, plan.key):
            report.moved[name] = plan.key
            return
        reason = f"{plan.key} already exists"
    else:
        reason = plan.reason
    if await store.rename(name, UNMIGRATED_PREFIX + tenant_keys.escape(name)):
        report.unresolved[name] = reason
        log.warning("state migration: %s was given to no repository: %s", name, reason)


async def upgrade(store: StateStore, storage: ObjectStore | None) -> MigrationReport:
    """Rename every schema-1 entry (see the module docstring), then mark schema 2."""
    report = MigrationReport()
    names = [k for k in await store.keys("") if is_old_key(k)]
    planner = _Planner(await store.get_many(names), storage)
    planner.learn(names)
    for name in names:
        await _apply(store, report, name, await planner.new_name(name))
    await store.set(tenant_keys.STATE_SCHEMA, SCHEMA_VERSION)
    return report
