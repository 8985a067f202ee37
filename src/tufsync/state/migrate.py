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


class _Planner:
    """Decides the new name of every old entry (pure, apart from object-store lookups)."""

    def __init__(self, values: dict[str, str], storage: ObjectStore | None) -> None:
        self.values = values
        self.storage = storage
        self.owners: dict[str, TenantRef] = {}
        self.known: set[TenantRef] = set()

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

    async def _published(self, ref: TenantRef) -> bool:
        if self.storage is None:
            return False
        return await self.storage.exists(tenant_keys.metadata_prefix(ref) + "1.root.json")

    async def owner(self, text: str, task_id: str | None) -> TenantRef | str:
        """The repository of ``<admin>_<app>`` text, or the reason it cannot be decided."""
        candidates = _split_candidates(text)
        if not candidates:
            return f"{text!r} is no valid <admin>_<app>"
        by_task = self.owners.get(task_id) if task_id else None
        if by_task in candidates:
            assert by_task is not None
            return by_task
        if len(candidates) == 1:
            return candidates[0]
        known = [c for c in candidates if c in self.known or await self._published(c)]
        if len(known) == 1:
            return known[0]
        names = ", ".join(f"{c.admin}/{c.app}" for c in (known or candidates))
        return f"could belong to any of {names}"

    async def new_name(self, name: str) -> str | tuple[str] | None:
        """New key; None to delete; a 1-tuple holding the reason when undecidable."""
        raw = self.values.get(name)
        data = _json(raw)
        if isinstance(data, dict) and {"role", "metadata", "trusted_version"} <= set(data):
            role = data["role"]
            head = f"{role.upper()}_SIGNING_" if isinstance(role, str) else ""
            if head and name.startswith(head):
                ref = await self.owner(name[len(head) :], None)
                if isinstance(ref, str):
                    return (ref,)
                try:
                    return tenant_keys.draft(ref, role)
                except InvalidName as exc:
                    return (str(exc),)
        if name.startswith(_EPHEMERAL):
            return None
        if name.startswith("TASK_"):
            if name[5:] in self.owners:
                return tenant_keys.task(name[5:])
            return ("not a readable task record",)
        if name.startswith("REPO_"):
            found = _slash_ref(name[5:])
            if found is None or found not in self.known:
                return ("not a readable refresh schedule",)
            return tenant_keys.schedule(found)
        if name.startswith("BATCH_"):
            batch = _slash_ref(name[6:])
            if batch is None:
                return ("not a batch of one repository",)
            return tenant_keys.target_batch(batch)
        for head, build in (
            ("BOOTSTRAP_", tenant_keys.bootstrap),
            ("SETTINGS_", tenant_keys.settings),
            ("RECOVERY_", tenant_keys.recovery),
        ):
            if name.startswith(head):
                if head == "SETTINGS_":
                    bootstrap_id = data.get("bootstrap") if isinstance(data, dict) else None
                    task_id = bootstrap_id if isinstance(bootstrap_id, str) else None
                else:
                    task_id = _task_of_marker(raw)
                ref = await self.owner(name[len(head) :], task_id)
                return (ref,) if isinstance(ref, str) else build(ref)
        return ("no rule applies",)


async def upgrade(store: StateStore, storage: ObjectStore | None) -> MigrationReport:
    """Rename every schema-1 entry (see the module docstring), then mark schema 2."""
    report = MigrationReport()
    names = [k for k in await store.keys("") if is_old_key(k)]
    planner = _Planner(await store.get_many(names), storage)
    planner.learn(names)
    for name in names:
        target = await planner.new_name(name)
        if target is None:
            await store.delete(name)
            report.dropped.append(name)
            continue
        if isinstance(target, str):
            if await store.rename(name, target):
                report.moved[name] = target
                continue
            reason = f"{target} already exists"
        else:
            reason = target[0]
        if await store.rename(name, UNMIGRATED_PREFIX + tenant_keys.escape(name)):
            report.unresolved[name] = reason
            log.warning("state migration: %s was given to no repository: %s", name, reason)
    await store.set(tenant_keys.STATE_SCHEMA, SCHEMA_VERSION)
    return report
