"""Every tenant-scoped key the service uses, built in one place from typed components.

Nothing else formats a key that contains tenant text. A key names one
(admin, app[, role]) or one task, and is built so that:

* it is **injective**: each component is escaped (every character outside
  ``[A-Za-z0-9._-]`` becomes ``%XX``, ``%`` included) and components are joined
  with ``:``, which an escaped component never contains; the kind of entry
  sits at a fixed position. So two different triples never share a key,
  whatever the naming rules allow (``john``/``doe_x`` and ``john_doe``/``x``
  are ``app:john:doe_x:…`` and ``app:john_doe:x:…``).
* tenant text never reaches a key space the service scans. The scanned
  spaces are ``schedule:`` (refresh schedules), ``finalize:`` (drafts whose
  thresholds were met, until published) and ``task:`` (task records);
  every other tenant key starts with ``app:``, so no role name, app name or
  username can make an entry look like a schedule or a task record.

State-store keys (``StateStore``)::

    app:<admin>:<app>:bootstrap         bootstrap marker
    app:<admin>:<app>:settings          repository settings (GET /tuf/v1/config)
    app:<admin>:<app>:draft:<role>      a draft awaiting signatures
    app:<admin>:<app>:recovery          recovery marker
    app:<admin>:<app>:lock              the repository lock
    app:<admin>:<app>:signing-lock      serialises signatures on drafts
    app:<admin>:<app>:online-keys-lock  serialises making online keys (their bound)
    app:<admin>:<app>:batch             set of publish/remove tasks waiting
    app:<admin>:<app>:refresh-queued    automatic refresh queued
    app:<admin>:<app>:expiry-warned:<role>  an expiring offline role was logged today
    app:<admin>:<app>:renewal-queued:<role>  its renewal draft was asked for today
    app:<admin>:<app>:recent-tasks      the latest task ids (for ``tufsync status``)
    schedule:<admin>:<app>              refresh schedule (scanned)
    finalize:<admin>:<app>              a draft met its threshold; the task publishing it (scanned)
    task:<task id>                      task record (scanned)
    lease:<task id>                     lease of the worker running a task
    admin:<admin>:registry-lock         serialises an admin's artifact file writes
    system:instance-alive:<id>          liveness of a process instance (scanned)
    system:<name>                       service-wide entries (no tenant text)

Object-store keys (docs/api.md §4): metadata under ``tuf_metadata/<admin>/<app>/``,
private copies under ``tuf_private/<admin>/<app>/``, artifacts under
``<app>-<admin>/`` (``-`` never occurs in a username, so the split is unique),
upload staging under ``tuf_staging/`` (no tenant path starts there). Online
key folders are ``<key dir>/<admin>/<app>/``. Path components are checked
against the naming rules when a :class:`TenantRef` is made, so they never
contain ``/``, ``..`` or anything escaping would change.

Usage: ``ref = TenantRef("alice", "app1")``; ``tenant_keys.settings(ref)``,
``tenant_keys.draft(ref, "root")``, ``tenant_keys.task(task_id)``,
``tenant_keys.parse_schedule(key)``. New kinds of keys belong here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from tufsync import names
from tufsync.names import (
    APP_NAME_RE,
    METADATA_PREFIX,
    PRIVATE_PREFIX,
    ROLE_NAME_RE,
    USERNAME_RE,
    InvalidName,
)

SEP = ":"
SCHEDULE_PREFIX = "schedule:"
FINALIZE_PREFIX = "finalize:"
TASK_PREFIX = "task:"
APP_PREFIX = "app:"
LEASE_PREFIX = "lease:"
SYSTEM_PREFIX = "system:"
SCANNED_PREFIXES = (SCHEDULE_PREFIX, FINALIZE_PREFIX, TASK_PREFIX)
"""Key spaces the service lists by prefix; only their own builders write there."""

SCHEDULER_LOCK = "system:refresh-scheduler-lock"
INSTANCE_PREFIX = "system:instance-alive:"
STATE_SCHEMA = "system:state-schema"
STAGING_PREFIX = "tuf_staging/"

_ALL_SAFE = re.compile(r"[A-Za-z0-9._-]*")
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def escape(component: str) -> str:
    """``component`` with every byte outside ``[A-Za-z0-9._-]`` as ``%XX`` (so no ``:``)."""
    if _ALL_SAFE.fullmatch(component):
        return component  # the common case (ids, plain names), without the loop below
    out: list[str] = []
    for char in component:
        if char in _SAFE:
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8"))
    return "".join(out)


def unescape(component: str) -> str:
    """Inverse of :func:`escape`; raise ValueError on text :func:`escape` never makes."""
    text = unquote(component, errors="strict")
    if escape(text) != component:
        raise ValueError(f"not an escaped key component: {component!r}")
    return text


@dataclass(frozen=True)
class TenantRef:
    """One repository: the admin who owns it and its app name (both checked)."""

    admin: str
    app: str

    def __post_init__(self) -> None:
        if not isinstance(self.admin, str) or not USERNAME_RE.fullmatch(self.admin):
            raise InvalidName(f"not a valid username: {self.admin!r}")
        if not isinstance(self.app, str) or not APP_NAME_RE.fullmatch(self.app) or ".." in self.app:
            raise InvalidName(f"not a valid app name: {self.app!r}")


def _join(*parts: str) -> str:
    return SEP.join(escape(p) for p in parts)


def _app_key(ref: TenantRef, *kind: str) -> str:
    return APP_PREFIX + _join(ref.admin, ref.app, *kind)


# -- state store: one repository ------------------------------------------------
def bootstrap(ref: TenantRef) -> str:
    """Bootstrap marker: ``pre-<task>`` while running, ``<task>`` when completed."""
    return _app_key(ref, "bootstrap")


def settings(ref: TenantRef) -> str:
    """Repository settings as shown by GET /tuf/v1/config (JSON)."""
    return _app_key(ref, "settings")


def draft(ref: TenantRef, role: str) -> str:
    """A draft of ``role`` awaiting signatures (role names are case-sensitive)."""
    if not isinstance(role, str) or not ROLE_NAME_RE.fullmatch(role):
        raise InvalidName(f"not a valid role name: {role!r}")
    return _app_key(ref, "draft", role)


def recovery(ref: TenantRef) -> str:
    """Set while a bootstrap recovery task of the repository runs."""
    return _app_key(ref, "recovery")


def repo_lock(ref: TenantRef) -> str:
    """The lock that serialises every metadata change of one repository."""
    return _app_key(ref, "lock")


def signing_lock(ref: TenantRef) -> str:
    """The lock that serialises signatures added to the repository's drafts."""
    return _app_key(ref, "signing-lock")


def online_keys_lock(ref: TenantRef) -> str:
    """Serialises making the repository's online keys, so their bound holds."""
    return _app_key(ref, "online-keys-lock")


def target_batch(ref: TenantRef) -> str:
    """Set of publish/remove task ids waiting to be merged into one metadata change."""
    return _app_key(ref, "batch")


def refresh_queued(ref: TenantRef) -> str:
    """Set while an automatic refresh of the repository is queued or running."""
    return _app_key(ref, "refresh-queued")


def expiry_warned(ref: TenantRef, role: str) -> str:
    """Set (with a one-day time-to-live) once an expiring offline role was logged."""
    return _app_key(ref, "expiry-warned", role)


def renewal_queued(ref: TenantRef, role: str) -> str:
    """Set (with a one-day time-to-live) once the renewal of an offline role was queued."""
    return _app_key(ref, "renewal-queued", role)


def recent_tasks(ref: TenantRef) -> str:
    """JSON list of the repository's latest task ids (newest first), for ``status``."""
    return _app_key(ref, "recent-tasks")


# -- state store: scanned spaces -----------------------------------------------
def schedule(ref: TenantRef) -> str:
    """Per-repository expiry schedule of online roles (also the list of repositories)."""
    return SCHEDULE_PREFIX + _join(ref.admin, ref.app)


def admin_schedule_prefix(admin: str) -> str:
    """The prefix of one admin's schedules, and of no other admin's (escaped names
    never contain the separator)."""
    if not isinstance(admin, str) or not USERNAME_RE.fullmatch(admin):
        raise InvalidName(f"not a valid username: {admin!r}")
    return SCHEDULE_PREFIX + escape(admin) + SEP


def parse_schedule(key: str) -> TenantRef:
    """The repository of a schedule key; ValueError (or InvalidName) if it is not one."""
    return _parse_repo_key(key, SCHEDULE_PREFIX, schedule, "schedule")


def finalizing(ref: TenantRef) -> str:
    """Set (JSON: the finalize task's id and the role) before a signature that meets a
    draft's threshold is stored; removed once that task ended. The periodic sweep
    finds here the signed drafts a crash left unpublished."""
    return FINALIZE_PREFIX + _join(ref.admin, ref.app)


def parse_finalizing(key: str) -> TenantRef:
    """The repository of a :func:`finalizing` key; ValueError (or InvalidName) otherwise."""
    return _parse_repo_key(key, FINALIZE_PREFIX, finalizing, "finalize")


def _parse_repo_key(
    key: str, prefix: str, build: Callable[[TenantRef], str], kind: str
) -> TenantRef:
    """The repository of ``key`` = ``build(ref)``, checked by building it again."""
    if not key.startswith(prefix):
        raise ValueError(f"not a {kind} key: {key!r}")
    parts = key[len(prefix) :].split(SEP)
    if len(parts) != 2:
        raise ValueError(f"not a {kind} key: {key!r}")
    ref = TenantRef(unescape(parts[0]), unescape(parts[1]))
    if build(ref) != key:
        raise ValueError(f"not a {kind} key: {key!r}")
    return ref


def task(task_id: str) -> str:
    """A task record (JSON)."""
    return TASK_PREFIX + escape(task_id)


def parse_task(key: str) -> str:
    """The task id of a task-record key; ValueError if it is not one."""
    if not key.startswith(TASK_PREFIX) or SEP in key[len(TASK_PREFIX) :]:
        raise ValueError(f"not a task key: {key!r}")
    task_id = unescape(key[len(TASK_PREFIX) :])
    if not task_id:
        raise ValueError(f"not a task key: {key!r}")
    return task_id


def task_lease(task_id: str) -> str:
    """Held by the worker running a task, so a redelivered message is not run twice."""
    return LEASE_PREFIX + escape(task_id)


def instance_alive(instance_id: str) -> str:
    """Present while process instance ``instance_id`` lives (kept by its heartbeat).

    Locks and leases name their owner instance; one whose owner has no such key
    is taken over at once. Ids are generated by the service (hex), never by a tenant.
    """
    return INSTANCE_PREFIX + escape(instance_id)


def registry_lock(admin: str) -> str:
    """Serialises one admin's registry writes that add or remove artifact files."""
    return _join("admin", admin, "registry-lock")


# -- object store ----------------------------------------------------------------
def metadata_prefix(ref: TenantRef) -> str:
    """Public metadata of one repository (docs/api.md §4)."""
    return f"{METADATA_PREFIX}/{ref.admin}/{ref.app}/"


def private_prefix(ref: TenantRef) -> str:
    """Private (never served) copies of one repository."""
    return f"{PRIVATE_PREFIX}/{ref.admin}/{ref.app}/"


def private_settings(ref: TenantRef) -> str:
    """The object-store copy of the settings, read by bootstrap recovery."""
    return private_prefix(ref) + "settings.json"


def artifact_prefix(ref: TenantRef) -> str:
    """The prefix of every target path and artifact key of one repository."""
    return names.artifact_prefix(ref.admin, ref.app)


def staging_upload(token: str) -> str:
    """Where an upload is written before it is moved under its artifact key."""
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        raise ValueError("staging token must be 32 lowercase hex digits")
    return STAGING_PREFIX + token


# -- online key folders ----------------------------------------------------------
def key_folder_parts(ref: TenantRef) -> list[str]:
    """The folders, one per level, from the server's key dir to the repository's keys."""
    return [ref.admin, ref.app]


def key_folder(root: Path, ref: TenantRef) -> Path:
    """The folder of the repository's online private keys under the server's key dir."""
    return root.joinpath(*key_folder_parts(ref))
