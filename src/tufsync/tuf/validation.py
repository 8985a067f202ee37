"""Checks on caller-supplied metadata shared by bootstrap and the signing flows.

Each raises :class:`TufInputError` with a sentence naming what is wrong. Every
check is linear in the payload (sets and dicts, each distinct key read once),
and a payload delegating to more than :data:`MAX_DELEGATED_ROLES` roles is
refused on its raw JSON, before anything of it is parsed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from securesystemslib.exceptions import UnverifiedSignatureError
from tuf.api.metadata import Delegations, Key, Metadata, Root, Targets

from tufsync.names import TOP_LEVEL_ROLES, InvalidName, check_delegated_role_name
from tufsync.tuf.canonical import require_canonical
from tufsync.tuf.config import MAX_EXPIRATION_DAYS
from tufsync.tuf.errors import OnlineKeysMissing, TufInputError
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
    """A caller's task ``timeout``: a finite number of seconds from 1 to 3600 (docs/api.md §5.1)."""
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
    (docs/api.md §5.1: one holder must never count as two signers)."""
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
    """No root key is also a key of an online role (docs/api.md §5.1: root keys never
    touch the server). Compares public key material, not keyids; each distinct key
    is read once, however many roles share it.

    https://theupdateframework.github.io/specification/latest/#root
    """
    root_material: dict[bytes, str] = {}
    for keyid in root.roles["root"].keyids:
        material = public_material(root.keys[keyid]) if keyid in root.keys else None
        if material is not None:
            root_material[material] = keyid
    materials = _MaterialCache()
    for role, keys in online.items():
        for keyid, key in keys.items():
            material = materials.of(key)
            root_keyid = root_material.get(material) if material is not None else None
            if root_keyid is not None:
                raise TufInputError(
                    f"key {keyid} of the online role {role!r} is the root key {root_keyid}: "
                    "root keys never touch the server, so use another key for online roles"
                )


class _MaterialCache:
    """The public material of each distinct key, computed once (by key type and value)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, object], bytes | None] = {}

    def of(self, key: Key) -> bytes | None:
        spelled = (key.keytype, key.keyval.get("public"))
        if not isinstance(spelled[1], str):
            return None
        if spelled not in self._known:
            self._known[spelled] = public_material(key)
        return self._known[spelled]


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


class OnlineKeyCheck:
    """Whether the server can sign with given online keys, for one payload.

    Each distinct key (keyid and every field, signer URI included) is loaded and
    probed once, however many roles name it: a payload delegating 16,384 roles to
    one key costs one key-file read and one probe signature, not 16,384.
    """

    def __init__(self, keystore: OnlineKeyStore, admin: str, app: str) -> None:
        self.keystore = keystore
        self.admin = admin
        self.app = app
        self._problems: dict[str, str | None] = {}

    def _problem(self, keyid: str, key: Key) -> str | None:
        spelled = json.dumps([keyid, key.to_dict()], sort_keys=True)
        if spelled not in self._problems:
            found = self.keystore.problems(self.admin, self.app, {keyid: key}, probe=True)
            self._problems[spelled] = found.get(keyid)
        return self._problems[spelled]

    def none_available(self, keys: Mapping[str, Key]) -> bool:
        """True when the server holds none of ``keys``: the role is signed offline."""
        return all(self._problem(keyid, key) is not None for keyid, key in keys.items())

    def require(self, keys: Mapping[str, Key], role: str) -> None:
        """Raise unless the server can sign with every key of ``role``."""
        problems = {}
        for keyid, key in keys.items():
            problem = self._problem(keyid, key)
            if problem is not None:
                problems[keyid] = problem
        if problems:
            reasons = "; ".join(f"{kid}: {why}" for kid, why in sorted(problems.items()))
            raise OnlineKeysMissing(
                f"online key(s) {sorted(problems)} of role {role!r} are not available to the "
                f"server ({reasons}); put each private key in the online key folder "
                f"{self.admin}/{self.app}/<keyid> (relative to the server's online key dir) "
                "or behind an allowed signer URI, or use a key the server makes itself: "
                f"POST /tuf/v1/keys/online?appName={self.app}"
            )


def check_online(
    keystore: OnlineKeyStore, admin: str, app: str, keys: dict[str, Key], role: str
) -> None:
    """Raise unless the server can sign with every key of ``role`` (loaded and probed)."""
    OnlineKeyCheck(keystore, admin, app).require(keys, role)


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


# A payload delegates to at most as many named roles as a repository may have hash
# bins (``bootstrap.MAX_BINS``): each is a metadata file the server signs at bootstrap
# and lists in snapshot. Counted on the raw JSON, before anything is parsed.
MAX_DELEGATED_ROLES = 2**14


def raw_field(raw: Any, *path: str) -> Any:
    """``raw[path[0]][path[1]]...`` of caller JSON, or None where a step is missing."""
    for step in path:
        if not isinstance(raw, dict):
            return None
        raw = raw.get(step)
    return raw


def check_role_bound(raw_delegations: Any, where: str) -> None:
    """At most :data:`MAX_DELEGATED_ROLES` delegated roles, counted on the raw JSON so
    that an oversized payload is refused before any parsing, signature or key work.

    https://theupdateframework.github.io/specification/latest/#update-targets (step 7.1:
    clients bound the roles they visit; the repository bounds the roles it keeps).
    """
    roles = raw_field(raw_delegations, "roles")
    count = len(roles) if isinstance(roles, list) else 0
    if count > MAX_DELEGATED_ROLES:
        raise TufInputError(
            f"{where} lists {count} roles; a repository has at most {MAX_DELEGATED_ROLES} "
            f"delegated roles (as many as hash bins); for more, use hash bins "
            "(settings.roles.hash_bins)"
        )


class DelegatedRoleNames:
    """The role names of one delegations object, checked as they are added.

    Each is a valid delegated role name (not a top-level role's in any case, see
    :func:`~tufsync.names.check_delegated_role_name`) and unique, also ignoring
    case: "The rolename MUST be unique in the delegations object"
    (https://theupdateframework.github.io/specification/latest/#file-formats-targets),
    and a client stores each role as ``<name>.json``
    (https://theupdateframework.github.io/specification/latest/#metadata-files-for-targets-delegation),
    so ``Stable`` and ``stable`` would share a file on a case-insensitive filesystem.
    A dict keyed by the lower-case name keeps this linear in the number of roles.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self._by_folded: dict[str, str] = {}

    def add(self, name: Any, field: str) -> str:
        if not isinstance(name, str):
            raise TufInputError(f"{field} is required")
        try:
            check_delegated_role_name(name)
        except InvalidName as exc:
            raise TufInputError(f"{self.where}: {exc}") from exc
        earlier = self._by_folded.get(name.lower())
        if earlier is None:
            self._by_folded[name.lower()] = name
            return name
        if earlier == name:
            raise TufInputError(f"delegated role name {name!r} appears more than once")
        raise TufInputError(
            f"delegated role names {earlier!r} and {name!r} differ only in letter case; "
            "a client stores each role as <name>.json, and on a case-insensitive "
            "filesystem both would be the same file"
        )


def check_role_paths(name: str, role: dict[str, Any]) -> None:
    """A delegated role lists well-formed path patterns (``paths``), not hash prefixes.

    https://theupdateframework.github.io/specification/latest/#file-formats-targets
    (PATHPATTERN)
    """
    if "path_hash_prefixes" in role:
        raise TufInputError(f"delegated role {name!r}: use 'paths', not path_hash_prefixes")
    paths = role.get("paths")
    if not isinstance(paths, list) or not paths:
        raise TufInputError(f"delegated role {name!r} needs a non-empty 'paths' list")
    for pattern in paths:
        problem = path_pattern_problem(pattern)
        if problem:
            raise TufInputError(f"delegated role {name!r}: path {pattern!r} {problem}")


def _raw_roles(raw_delegations: dict[str, Any], where: str) -> list[Any]:
    raw_roles = raw_delegations.get("roles")
    if not isinstance(raw_roles, list) or not raw_roles:
        raise TufInputError(f"{where}.roles must be a non-empty list of roles")
    if raw_delegations.get("succinct_roles") is not None:
        raise TufInputError(f"{where}: succinct_roles are not accepted here")
    check_role_bound(raw_delegations, where)
    return raw_roles


def _parse_delegations(
    raw_delegations: dict[str, Any], roles: list[dict[str, Any]], where: str
) -> Delegations:
    try:
        return Delegations.from_dict(
            {"keys": copy.deepcopy(raw_delegations.get("keys", {})), "roles": roles}
        )
    except Exception as exc:
        raise TufInputError(f"{where} is not valid: {exc}") from exc


def check_delegations(
    raw_delegations: dict[str, Any], admin: str, app: str, where: str
) -> tuple[Delegations, dict[str, int]]:
    """Validate delegations and return them with per-role expirations (days, if given).

    Linear in the number of roles; at most :data:`MAX_DELEGATED_ROLES` of them.
    https://theupdateframework.github.io/specification/latest/#file-formats-targets
    """
    require_canonical(raw_delegations, where)
    names = DelegatedRoleNames(where)
    expirations: dict[str, int] = {}
    cleaned_roles = []
    for index, raw_role in enumerate(_raw_roles(raw_delegations, where)):
        role = require_object(raw_role, f"{where}.roles[{index}]")
        name = names.add(role.get("name"), f"{where}.roles[{index}].name")
        check_role_paths(name, role)
        if "expiration" in role:
            expirations[name] = expiration_days(role["expiration"], f"expiration of role {name!r}")
        cleaned = {k: v for k, v in role.items() if k != "expiration"}
        cleaned.setdefault("terminating", False)
        cleaned_roles.append(cleaned)
    delegations = _parse_delegations(raw_delegations, cleaned_roles, where)
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
