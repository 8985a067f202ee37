"""Bootstrap: check a payload completely, then create and publish version 1.

``validate_bootstrap`` runs in the request, so every problem is a 400 before
anything is stored. ``run_bootstrap`` signs targets (when online), every
delegated role, snapshot and timestamp, verifies the whole chain, and
publishes ``1.root.json``, the role files, ``1.snapshot.json`` and
``timestamp.json`` last. On failure it removes whatever it wrote.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from securesystemslib.exceptions import UnverifiedSignatureError
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Key,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    Targets,
    Timestamp,
)

from tufsync.names import TOP_LEVEL_ROLES, InvalidName, check_role_name, tenant_target_prefix
from tufsync.state import keys as state_keys
from tufsync.tuf.clock import expiry_after
from tufsync.tuf.config import MAX_EXPIRATION_DAYS, RepoConfig, RoleSettings
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.keys import OnlineKeyStore, key_problem
from tufsync.tuf.metastore import to_bytes, versioned_name
from tufsync.tuf.repository import Repository
from tufsync.tuf.signing import canonical_bytes, online_signers, sign_and_verify

DEFAULT_ROLE = "default"
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class BootstrapPlan:
    """A validated bootstrap request."""

    admin: str
    app: str
    root: Metadata[Root]
    offline_targets: Metadata[Targets] | None
    delegations: Delegations
    expirations: dict[str, int]
    delegated_expirations: dict[str, int]
    timeout: float

    def config(self, task_id: str) -> RepoConfig:
        root = self.root.signed
        roles = {
            name: RoleSettings(
                expiration=self.expirations[name],
                threshold=root.roles[name].threshold,
                num_keys=len(root.roles[name].keyids),
            )
            for name in TOP_LEVEL_ROLES
        }
        delegated = {
            name: RoleSettings(
                expiration=self.delegated_expirations[name],
                threshold=role.threshold,
                num_keys=len(role.keyids),
            )
            for name, role in (self.delegations.roles or {}).items()
        }
        return RepoConfig(
            bootstrap=task_id,
            roles=roles,
            targets_online_key=self.offline_targets is None,
            delegated_roles=delegated,
        )


def _expiration(value: Any, where: str) -> int:
    if value is None:
        raise TufInputError(f"{where} is required (days, 1 to {MAX_EXPIRATION_DAYS})")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TufInputError(f"{where} must be a whole number of days")
    if not 1 <= value <= MAX_EXPIRATION_DAYS:
        raise TufInputError(
            f"{where} must be between 1 and {MAX_EXPIRATION_DAYS} days, not {value}"
        )
    return value


def _dict(value: Any, where: str, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise TufInputError(f"{where} is required and must be a JSON object")
    return value


def _parse_metadata(raw: Any, where: str, expected_type: str) -> Metadata[Any]:
    raw = _dict(raw, where)
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


def _check_keys(keys: dict[str, Key], where: str) -> None:
    for keyid, key in keys.items():
        problem = key_problem(keyid, key)
        if problem:
            raise TufInputError(f"{where}: {problem}")


def _check_signatures(md: Metadata[Any], delegator: Root | Targets, role: str, where: str) -> None:
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


def _check_delegations(
    raw_delegations: dict[str, Any], admin: str, app: str, where: str
) -> tuple[Delegations, dict[str, int]]:
    """Validate delegations and return them with per-role expirations (days, if given)."""
    raw_roles = raw_delegations.get("roles")
    if not isinstance(raw_roles, list) or not raw_roles:
        raise TufInputError(f"{where}.roles must be a non-empty list of roles")
    if raw_delegations.get("succinct_roles") is not None:
        raise TufInputError(f"{where}: succinct_roles are not accepted here")
    names: list[str] = []
    expirations: dict[str, int] = {}
    cleaned_roles = []
    prefix = tenant_target_prefix(admin, app)
    for index, raw_role in enumerate(raw_roles):
        role = _dict(raw_role, f"{where}.roles[{index}]")
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
            if (
                not isinstance(pattern, str)
                or not pattern.startswith(prefix)
                or ".." in pattern
                or "\\" in pattern
                or "\x00" in pattern
            ):
                raise TufInputError(
                    f"delegated role {name!r}: path {pattern!r} must stay inside {prefix!r}"
                )
        if "expiration" in role:
            expirations[name] = _expiration(role["expiration"], f"expiration of role {name!r}")
        cleaned = {k: v for k, v in role.items() if k != "expiration"}
        cleaned.setdefault("terminating", False)
        cleaned_roles.append(cleaned)
    try:
        delegations = Delegations.from_dict(
            {"keys": copy.deepcopy(raw_delegations.get("keys", {})), "roles": cleaned_roles}
        )
    except Exception as exc:
        raise TufInputError(f"{where} is not valid: {exc}") from exc
    _check_keys(delegations.keys, where)
    for name, drole in (delegations.roles or {}).items():
        if drole.threshold < 1 or drole.threshold > len(drole.keyids):
            raise TufInputError(
                f"delegated role {name!r}: threshold {drole.threshold} needs between 1 and "
                f"{len(drole.keyids)} keys"
            )
        unknown = [k for k in drole.keyids if k not in delegations.keys]
        if unknown:
            raise TufInputError(f"delegated role {name!r} uses keyids with no key: {unknown}")
    return delegations, expirations


def _check_online(
    keystore: OnlineKeyStore, admin: str, app: str, keys: dict[str, Key], role: str
) -> None:
    missing = keystore.unavailable(admin, app, keys)
    if missing:
        raise TufInputError(
            f"online key(s) {missing} of role {role!r} are not available to the server: "
            f"put each private key in the online key folder {admin}/{app}/<keyid>"
        )


def _role_key_map(root: Root, role: str) -> dict[str, Key]:
    return {kid: root.keys[kid] for kid in root.roles[role].keyids}


def validate_bootstrap(
    admin: str,
    app: str,
    payload: dict[str, Any],
    keystore: OnlineKeyStore,
    now: datetime,
) -> BootstrapPlan:
    """Check a bootstrap payload completely; raise TufInputError with a precise message."""
    settings = _dict(payload.get("settings"), "settings")
    roles_settings = _dict(settings.get("roles"), "settings.roles")
    expirations = {
        role: _expiration(
            _dict(roles_settings.get(role), f"settings.roles.{role}").get("expiration"),
            f"settings.roles.{role}.expiration",
        )
        for role in TOP_LEVEL_ROLES
    }
    online_flag = _dict(roles_settings.get("targets"), "settings.roles.targets").get(
        "online_key", True
    )
    if not isinstance(online_flag, bool):
        raise TufInputError("settings.roles.targets.online_key must be true or false")

    metadata = _dict(payload.get("metadata"), "metadata")
    root_md = _parse_metadata(metadata.get("root"), "metadata.root", "root")
    root = root_md.signed
    if root.version != 1:
        raise TufInputError(f"metadata.root must be version 1, not {root.version}")
    if root.is_expired(now):
        raise TufInputError(f"metadata.root expired at {root.expires.isoformat()}")
    if not root.consistent_snapshot:
        raise TufInputError("metadata.root must set consistent_snapshot to true")
    _check_keys(root.keys, "metadata.root")
    for name in TOP_LEVEL_ROLES:
        role = root.roles[name]
        if role.threshold < 1 or role.threshold > len(role.keyids):
            raise TufInputError(
                f"root role {name!r}: threshold {role.threshold} needs between 1 and "
                f"{len(role.keyids)} keys"
            )
        unknown = [k for k in role.keyids if k not in root.keys]
        if unknown:
            raise TufInputError(f"root role {name!r} uses keyids with no key: {unknown}")
    _check_signatures(root_md, root, "root", "metadata.root")

    for name in ("timestamp", "snapshot"):
        _check_online(keystore, admin, app, _role_key_map(root, name), name)

    offline_targets: Metadata[Targets] | None = None
    raw_delegations = roles_settings.get("delegations")
    if online_flag:
        _check_online(keystore, admin, app, _role_key_map(root, "targets"), "targets")
        if raw_delegations is not None:
            delegations, delegated_exp = _check_delegations(
                _dict(raw_delegations, "settings.roles.delegations"),
                admin,
                app,
                "settings.roles.delegations",
            )
        else:
            targets_keys = _role_key_map(root, "targets")
            delegations = Delegations(
                keys=dict(targets_keys),
                roles={
                    DEFAULT_ROLE: DelegatedRole(
                        name=DEFAULT_ROLE,
                        keyids=list(targets_keys),
                        threshold=root.roles["targets"].threshold,
                        terminating=True,
                        paths=[f"{tenant_target_prefix(admin, app)}*/*/*/*"],
                    )
                },
            )
            delegated_exp = {}
    else:
        if metadata.get("targets") is None:
            raise TufInputError(
                "metadata.targets is required when settings.roles.targets.online_key is false"
            )
        offline_targets = _parse_metadata(metadata.get("targets"), "metadata.targets", "targets")
        tsigned = offline_targets.signed
        if tsigned.version != 1:
            raise TufInputError(f"metadata.targets must be version 1, not {tsigned.version}")
        if tsigned.is_expired(now):
            raise TufInputError(f"metadata.targets expired at {tsigned.expires.isoformat()}")
        _check_signatures(offline_targets, root, "targets", "metadata.targets")
        if tsigned.delegations is None:
            raise TufInputError(
                "metadata.targets must delegate to roles with online keys when targets is offline"
            )
        delegations, delegated_exp = _check_delegations(
            tsigned.delegations.to_dict(), admin, app, "metadata.targets.signed.delegations"
        )
        if tsigned.targets:
            raise TufInputError("metadata.targets v1 must not list targets itself")
    for name, drole in (delegations.roles or {}).items():
        keys = {kid: delegations.keys[kid] for kid in drole.keyids}
        _check_online(keystore, admin, app, keys, name)

    timeout = payload.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise TufInputError("timeout must be a positive number of seconds")

    delegated_expirations = {
        name: delegated_exp.get(name, expirations["targets"]) for name in delegations.roles or {}
    }
    return BootstrapPlan(
        admin=admin,
        app=app,
        root=root_md,
        offline_targets=offline_targets,
        delegations=delegations,
        expirations=expirations,
        delegated_expirations=delegated_expirations,
        timeout=float(timeout),
    )


async def run_bootstrap(repo: Repository, plan: BootstrapPlan, task_id: str) -> dict[str, int]:
    """Sign and publish version 1 of every role; store settings. Cleans up on failure."""
    engine = repo.engine
    now = engine.clock()
    root = plan.root.signed
    config = plan.config(task_id)

    def sign_online(md: Metadata[Any], role: str, delegator: Root | Targets) -> None:
        signers = online_signers(engine.keys, repo.admin, repo.app, delegator, role)
        sign_and_verify(md, role, signers, delegator)

    targets_md: Metadata[Targets]
    if plan.offline_targets is not None:
        targets_md = plan.offline_targets
    else:
        targets_md = Metadata(
            Targets(
                version=1,
                expires=expiry_after(now, plan.expirations["targets"]),
                delegations=plan.delegations,
            )
        )
        sign_online(targets_md, "targets", root)

    role_files: list[tuple[str, Metadata[Any]]] = [("targets", targets_md)]
    for name in plan.delegations.roles or {}:
        md = Metadata(
            Targets(version=1, expires=expiry_after(now, plan.delegated_expirations[name]))
        )
        sign_online(md, name, targets_md.signed)
        role_files.append((name, md))

    snapshot = Metadata(
        Snapshot(
            version=1,
            expires=expiry_after(now, plan.expirations["snapshot"]),
            meta={f"{name}.json": MetaFile(version=1) for name, _ in role_files},
        )
    )
    sign_online(snapshot, "snapshot", root)
    timestamp = Metadata(
        Timestamp(
            version=1,
            expires=expiry_after(now, plan.expirations["timestamp"]),
            snapshot_meta=MetaFile(version=1),
        )
    )
    sign_online(timestamp, "timestamp", root)

    files = repo.files
    ordered: list[tuple[str, Metadata[Any]]] = [(versioned_name("root", 1), plan.root)]
    ordered += [(versioned_name(name, 1), md) for name, md in role_files]
    ordered.append((versioned_name("snapshot", 1), snapshot))
    ordered.append(("timestamp.json", timestamp))
    written: list[str] = []
    try:
        for name, md in ordered:
            await files.storage.put(files.key(name), to_bytes(md))
            written.append(files.key(name))
        await repo.save_config(config)
        expiries = {name: md.signed.expires for name, md in role_files}
        expiries |= {"snapshot": snapshot.signed.expires, "timestamp": timestamp.signed.expires}
        await repo.record_expiries(expiries, config)
    except BaseException:
        for key in written:
            await files.storage.delete(key)
        await files.storage.delete(repo.private_settings_key)
        await repo.state.delete(state_keys.repo_index(repo.admin, repo.app))
        files.forget_all()
        raise
    return {name: 1 for name, _ in role_files} | {"root": 1, "snapshot": 1, "timestamp": 1}
