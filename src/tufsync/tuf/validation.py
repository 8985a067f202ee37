"""Checks on caller-supplied metadata shared by bootstrap and the signing flows.

Each raises :class:`TufInputError` with a sentence naming what is wrong.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from securesystemslib.exceptions import UnverifiedSignatureError
from tuf.api.metadata import Delegations, Key, Metadata, Root, Targets

from tufsync.names import TOP_LEVEL_ROLES, InvalidName, check_role_name
from tufsync.tuf.canonical import require_canonical
from tufsync.tuf.config import MAX_EXPIRATION_DAYS
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.keys import OnlineKeyStore, key_problem, public_material, same_key_twice
from tufsync.tuf.signing import canonical_bytes


def expiration_days(value: Any, where: str) -> int:
    if value is None:
        raise TufInputError(f"{where} is required (days, 1 to {MAX_EXPIRATION_DAYS})")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TufInputError(f"{where} must be a whole number of days")
    if not 1 <= value <= MAX_EXPIRATION_DAYS:
        raise TufInputError(
            f"{where} must be between 1 and {MAX_EXPIRATION_DAYS} days, not {value}"
        )
    return value


MIN_TIMEOUT = 1
MAX_TIMEOUT = 3600


def task_timeout(value: Any, default: float) -> float:
    """A caller's task ``timeout``: a finite number of seconds from 1 to 3600 (API.md §5.1)."""
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not MIN_TIMEOUT <= value <= MAX_TIMEOUT  # NaN fails every comparison
    ):
        shown = repr(value) if isinstance(value, int | float) else type(value).__name__
        raise TufInputError(
            f"timeout must be a finite number of seconds from {MIN_TIMEOUT} to {MAX_TIMEOUT}, "
            f"not {shown[:40]}"
        )
    return float(value)


def require_object(value: Any, where: str, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise TufInputError(f"{where} is required and must be a JSON object")
    return value


def parse_metadata(raw: Any, where: str, expected_type: str) -> Metadata[Any]:
    raw = require_object(raw, where)
    require_canonical(raw, where)
    signed = raw.get("signed")
    if isinstance(signed, dict) and signed.get("_type") != expected_type:
        raise TufInputError(
            f"{where} must have _type {expected_type!r}, not {signed.get('_type')!r}"
        )
    try:
        md: Metadata[Any] = Metadata.from_dict(copy.deepcopy(raw))
    except Exception as exc:
        raise TufInputError(f"{where} is not valid TUF metadata: {exc}") from exc
    return md


def check_keys(keys: dict[str, Key], where: str) -> None:
    """Every key is supported and matches its keyid; no public key appears twice
    (API.md §5.1: one holder must never count as two signers)."""
    for keyid, key in keys.items():
        problem = key_problem(keyid, key)
        if problem:
            raise TufInputError(f"{where}: {problem}")
    twice = same_key_twice(keys)
    if twice is not None:
        raise TufInputError(
            f"{where}: keys {twice[0]} and {twice[1]} are the same public key under two keyids; "
            "list each key once, so that one key holder cannot count as two signers"
        )


def check_root_keys_offline(root: Root, online: Mapping[str, Mapping[str, Key]]) -> None:
    """No root key is also a key of an online role (API.md §5.1: root keys never
    touch the server). Compares public key material, not keyids."""
    root_material: dict[bytes, str] = {}
    for keyid in root.roles["root"].keyids:
        material = public_material(root.keys[keyid]) if keyid in root.keys else None
        if material is not None:
            root_material[material] = keyid
    for role, keys in online.items():
        for keyid, key in keys.items():
            material = public_material(key)
            root_keyid = root_material.get(material) if material is not None else None
            if root_keyid is not None:
                raise TufInputError(
                    f"key {keyid} of the online role {role!r} is the root key {root_keyid}: "
                    "root keys never touch the server, so use another key for online roles"
                )


def check_signed_by(md: Metadata[Any], delegator: Root | Targets, role: str, where: str) -> None:
    """Every signature must be by a key of ``role`` and verify; the threshold must be met."""
    payload = canonical_bytes(md)
    allowed = set(delegator.get_delegated_role(role).keyids)
    for keyid, sig in md.signatures.items():
        if keyid not in allowed:
            raise TufInputError(
                f"{where} carries a signature by {keyid}, which is not a {role} key"
            )
        try:
            delegator.get_key(keyid).verify_signature(sig, payload)
        except (UnverifiedSignatureError, ValueError) as exc:
            raise TufInputError(f"{where}: the signature by key {keyid} does not verify") from exc
    result = delegator.get_verification_result(role, payload, md.signatures)
    if not result:
        raise TufInputError(
            f"{where} is not signed by the {role} threshold: "
            f"{len(result.signed)} of {result.threshold} required signatures"
        )


def check_online(
    keystore: OnlineKeyStore, admin: str, app: str, keys: dict[str, Key], role: str
) -> None:
    problems = keystore.problems(admin, app, keys, probe=True)
    if problems:
        reasons = "; ".join(f"{kid}: {why}" for kid, why in sorted(problems.items()))
        raise TufInputError(
            f"online key(s) {sorted(problems)} of role {role!r} are not available to the "
            f"server ({reasons}); put each private key in the online key folder "
            f"{admin}/{app}/<keyid> (relative to the server's online key dir) or behind an "
            f"allowed signer URI, or use a key the server makes itself: "
            f"POST /tuf/v1/keys/online?appName={app}"
        )


def role_key_map(root: Root, role: str) -> dict[str, Key]:
    return {kid: root.keys[kid] for kid in root.roles[role].keyids}


MAX_PATH_PATTERN = 1024


def path_pattern_problem(pattern: Any) -> str | None:
    """Why ``pattern`` is not a well-formed TUF path pattern, or None.

    Any pattern is allowed (the dashboard's generator writes ``<admin>/<app>/*``,
    ``<app>-<admin>/*`` and updater prefixes): a tenant's repository is trusted
    only by that tenant's clients, and the server signs only that tenant's own
    artifacts. Only what no target path can contain is refused.
    """
    if not isinstance(pattern, str) or not pattern:
        return "must be a non-empty string"
    if len(pattern) > MAX_PATH_PATTERN:
        return f"is longer than {MAX_PATH_PATTERN} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in pattern):
        return "contains a control character"
    return None


def check_delegations(
    raw_delegations: dict[str, Any], admin: str, app: str, where: str
) -> tuple[Delegations, dict[str, int]]:
    """Validate delegations and return them with per-role expirations (days, if given)."""
    require_canonical(raw_delegations, where)
    raw_roles = raw_delegations.get("roles")
    if not isinstance(raw_roles, list) or not raw_roles:
        raise TufInputError(f"{where}.roles must be a non-empty list of roles")
    if raw_delegations.get("succinct_roles") is not None:
        raise TufInputError(f"{where}: succinct_roles are not accepted here")
    names: list[str] = []
    expirations: dict[str, int] = {}
    cleaned_roles = []
    for index, raw_role in enumerate(raw_roles):
        role = require_object(raw_role, f"{where}.roles[{index}]")
        name = role.get("name")
        if not isinstance(name, str):
            raise TufInputError(f"{where}.roles[{index}].name is required")
        try:
            check_role_name(name)
        except InvalidName as exc:
            raise TufInputError(f"{where}: {exc}") from exc
        if name in TOP_LEVEL_ROLES:
            raise TufInputError(f"delegated role name {name!r} clashes with a top-level role")
        if name in names:
            raise TufInputError(f"delegated role name {name!r} appears more than once")
        names.append(name)
        if "path_hash_prefixes" in role:
            raise TufInputError(f"delegated role {name!r}: use 'paths', not path_hash_prefixes")
        paths = role.get("paths")
        if not isinstance(paths, list) or not paths:
            raise TufInputError(f"delegated role {name!r} needs a non-empty 'paths' list")
        for pattern in paths:
            problem = path_pattern_problem(pattern)
            if problem:
                raise TufInputError(f"delegated role {name!r}: path {pattern!r} {problem}")
        if "expiration" in role:
            expirations[name] = expiration_days(role["expiration"], f"expiration of role {name!r}")
        cleaned = {k: v for k, v in role.items() if k != "expiration"}
        cleaned.setdefault("terminating", False)
        cleaned_roles.append(cleaned)
    try:
        delegations = Delegations.from_dict(
            {"keys": copy.deepcopy(raw_delegations.get("keys", {})), "roles": cleaned_roles}
        )
    except Exception as exc:
        raise TufInputError(f"{where} is not valid: {exc}") from exc
    check_keys(delegations.keys, where)
    for name, drole in (delegations.roles or {}).items():
        check_role_keys(f"delegated role {name!r}", drole.keyids, drole.threshold, delegations.keys)
    return delegations, expirations


def check_role_keys(label: str, keyids: list[str], threshold: int, keys: dict[str, Key]) -> None:
    """A role's threshold fits its keys, and every keyid has key material."""
    if not 1 <= threshold <= len(keyids):
        raise TufInputError(
            f"{label}: threshold {threshold} needs between 1 and {len(keyids)} keys"
        )
    unknown = [k for k in keyids if k not in keys]
    if unknown:
        raise TufInputError(f"{label} uses keyids with no key: {unknown}")


def check_root(root: Root, expected_version: int, now: datetime, where: str) -> None:
    """A root's version, expiry, consistent snapshots, keys and role thresholds."""
    if root.version != expected_version:
        raise TufInputError(f"{where} must be version {expected_version}, not {root.version}")
    if root.is_expired(now):
        raise TufInputError(f"{where} expired at {root.expires.isoformat()}")
    if not root.consistent_snapshot:
        raise TufInputError(f"{where} must set consistent_snapshot to true")
    check_keys(root.keys, where)
    for name in TOP_LEVEL_ROLES:
        role = root.roles[name]
        check_role_keys(f"root role {name!r}", role.keyids, role.threshold, root.keys)
