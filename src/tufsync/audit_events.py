"""What each change to a repository's trust records in the audit trail.

Builds the event kind and its details from a finished task record or from the
metadata a route accepted. Only public facts are taken (keyids, thresholds,
versions, role names, target paths, expirations), field by field, so nothing
secret can reach the trail; :mod:`tufsync.db.audit` checks the fields again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tuf.api.metadata import Root

from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.drafts import Draft

# Tasks whose outcomes the targets batch handler records itself, in its own transaction.
BATCHED_TASKS = frozenset({TaskName.PUBLISH, TaskName.PUBLISH_LEGACY, TaskName.REMOVE})

Event = tuple[str, dict[str, Any]]


def _root_keys(signed: dict[str, Any]) -> tuple[list[str], int | None, list[str]]:
    roles = signed.get("roles") or {}
    root_role = roles.get("root") or {}
    online = roles.get("timestamp") or {}
    return (
        sorted(str(k) for k in root_role.get("keyids") or []),
        root_role.get("threshold"),
        sorted(str(k) for k in online.get("keyids") or []),
    )


def _bootstrap(record: TaskRecord, details: dict[str, Any]) -> Event:
    root = (record.params.get("payload") or {}).get("metadata", {}).get("root", {})
    keyids, threshold, online = _root_keys(root.get("signed") or {})
    return "bootstrap", {
        "root_keyids": keyids,
        "root_threshold": threshold,
        "online_keyids": online,
        "versions": details.get("versions", {}),
    }


def _root_update(record: TaskRecord, details: dict[str, Any]) -> Event | None:
    if record.params.get("mode") != "publish":
        return None  # a draft awaiting signatures; the route recorded the post
    return "root_published", {
        "version": record.params.get("version"),
        "versions": details.get("versions", {}),
    }


def _delegation(record: TaskRecord, details: dict[str, Any]) -> Event | None:
    if record.params.get("mode") != "publish":
        return None
    return "delegated_published", {
        "roles": [d["role"] for d in record.params.get("drafts", [])],
        "versions": details.get("versions", {}),
    }


def _forced(record: TaskRecord, details: dict[str, Any]) -> Event | None:
    if record.params.get("automatic"):
        return None  # the scheduler's routine refresh changes no trust
    return "forced_update", {
        "roles": list(record.params.get("roles", [])),
        "versions": details.get("versions", {}),
    }


def _targets(event: str, field: str) -> Callable[[TaskRecord, dict[str, Any]], Event]:
    def build(record: TaskRecord, details: dict[str, Any]) -> Event:
        raw = record.params.get(field, [])
        paths = [a["path"] for a in raw] if field == "artifacts" else list(raw)
        return event, {
            "paths": paths,
            "version_id": record.params.get("version_id"),
            "versions": details.get("versions", {}),
        }

    return build


_BUILDERS: dict[str, Callable[[TaskRecord, dict[str, Any]], Event | None]] = {
    TaskName.BOOTSTRAP: _bootstrap,
    TaskName.ROOT_ROTATION: _root_update,
    TaskName.DELEGATED_ROTATION: _delegation,
    TaskName.FINALIZE_SIGNING: lambda r, d: (
        "signing_finalized",
        {"role": r.params.get("role"), "versions": d.get("versions", {})},
    ),
    TaskName.CANCEL_SIGNING: lambda r, d: ("signing_cancelled", {"role": r.params.get("role")}),
    TaskName.FORCE_UPDATE: _forced,
    TaskName.UPDATE_SETTINGS: lambda r, d: (
        "config_changed",
        {"expiration": {k: int(v) for k, v in r.params.get("expiration", {}).items()}},
    ),
    TaskName.RECOVERY: lambda r, d: ("recovery", {}),
    TaskName.PUBLISH: _targets("artifacts_published", "artifacts"),
    TaskName.PUBLISH_LEGACY: _targets("artifacts_published", "artifacts"),
    TaskName.REMOVE: _targets("artifacts_removed", "paths"),
}


def task_event(record: TaskRecord, details: dict[str, Any] | None) -> Event | None:
    """The event a successful task records, or None when it changed no trust."""
    builder = _BUILDERS.get(record.name)
    return None if builder is None else builder(record, details or {})


def root_rotation_details(trusted: Root, new: Root, mode: str) -> dict[str, Any]:
    """A posted root rotation: the new version, its root keys and what changed."""
    old_keys = set(trusted.roles["root"].keyids)
    new_keys = set(new.roles["root"].keyids)
    return {
        "version": new.version,
        "mode": mode,
        "root_keyids": sorted(new_keys),
        "root_threshold": new.roles["root"].threshold,
        "added_keyids": sorted(new_keys - old_keys),
        "removed_keyids": sorted(old_keys - new_keys),
        "online_keyids": sorted(new.roles["timestamp"].keyids),
    }


def delegated_rotation_details(drafts: Iterable[Draft], complete: bool) -> dict[str, Any]:
    """A posted delegated rotation: its roles and their new versions."""
    drafts = list(drafts)
    return {
        "mode": "publish" if complete else "awaiting",
        "roles": [d.role for d in drafts],
        "versions": {d.role: int(d.metadata["signed"]["version"]) for d in drafts},
    }


def online_key_details(keyid: str) -> dict[str, Any]:
    """An online key the server made, deleted or expired (``online_key_created``,
    ``online_key_deleted``, ``online_key_expired``): its keyid only, never key material."""
    return {"keyid": keyid}
