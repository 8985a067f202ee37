"""Offline edits of root metadata for a rotation, and a readable diff of two versions."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.formats import encode_canonical
from securesystemslib.signer import Key, Signer
from tuf.api.metadata import Metadata, Root


def next_root_version(
    trusted: dict[str, Any],
    *,
    add_root_keys: Sequence[Key] = (),
    remove_root_keys: Sequence[str] = (),
    threshold: int | None = None,
    new_online_key: Key | None = None,
    expires_days: int | None = None,
) -> Metadata[Root]:
    """Root version + 1 with the requested changes and no signatures."""
    md: Metadata[Root] = Metadata.from_dict(copy.deepcopy(trusted))
    root = md.signed
    root.version += 1
    md.signatures.clear()
    for keyid in remove_root_keys:
        root.revoke_key(keyid, "root")
    for key in add_root_keys:
        root.add_key(key, "root")
    if threshold is not None:
        root.roles["root"].threshold = threshold
    if new_online_key is not None:
        for role in ("timestamp", "snapshot", "targets"):
            for keyid in list(root.roles[role].keyids):
                root.revoke_key(keyid, role)
            root.add_key(new_online_key, role)
    if expires_days is not None:
        root.expires = (datetime.now(UTC) + timedelta(days=expires_days)).replace(microsecond=0)
    return md


def signature_over(signer: Signer, metadata: dict[str, Any]) -> dict[str, Any]:
    """One signature over the canonical ``signed`` bytes of a draft, as the API expects."""
    payload = str(encode_canonical(metadata["signed"])).encode()
    return dict(signer.sign(payload).to_dict())


def describe_changes(trusted: dict[str, Any], draft: dict[str, Any]) -> list[str]:
    """Human-readable differences between a trusted ``signed`` and a draft ``signed``."""
    old, new = trusted.get("signed", {}), draft.get("signed", {})
    lines = [
        f"{field}: {old.get(field)} -> {new.get(field)}"
        for field in ("version", "expires", "consistent_snapshot")
        if old.get(field) != new.get(field)
    ]
    old_roles, new_roles = old.get("roles", {}), new.get("roles", {})
    for role in sorted(set(old_roles) | set(new_roles)):
        lines += _role_changes(role, old_roles.get(role, {}), new_roles.get(role, {}))
    lines += _target_changes(old.get("targets"), new.get("targets"))
    if old.get("delegations") != new.get("delegations") and "delegations" in new:
        lines.append("delegations changed")
    return lines or ["no changes besides signatures"]


def _role_changes(role: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys added to and removed from ``role``, and a changed threshold."""
    old_keys, new_keys = set(old.get("keyids", [])), set(new.get("keyids", []))
    lines = []
    if added := sorted(new_keys - old_keys):
        lines.append(f"{role}: keys added {added}")
    if removed := sorted(old_keys - new_keys):
        lines.append(f"{role}: keys removed {removed}")
    if old.get("threshold") != new.get("threshold"):
        lines.append(f"{role}: threshold {old.get('threshold')} -> {new.get('threshold')}")
    return lines


def _target_changes(old: object, new: object) -> list[str]:
    """Target paths added and removed, when both versions list targets."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    added = [f"target added: {path}" for path in sorted(set(new) - set(old))]
    return added + [f"target removed: {path}" for path in sorted(set(old) - set(new))]
