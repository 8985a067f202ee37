"""Delegated role rotation: stage new targets and/or delegated metadata for signing.

The caller sends a new ``targets`` (the delegator) and/or a new version of the
delegated role. Both must be newer than the trusted versions (no rollback),
unexpired (no freeze), well formed, and carry only signatures that verify with
keys the delegator authorises (no signer injection, no duplicate keyids). The
server adds the signatures of keys it holds online; the rest arrive through
the signing endpoint. Finalizing publishes them and re-signs snapshot and
timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tuf.api.metadata import Metadata, Targets

from tufsync import tenant_keys
from tufsync.names import TOP_LEVEL_ROLES, InvalidName, check_role_name
from tufsync.state.locks import HeldLock
from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.config import RepoConfig
from tufsync.tuf.drafts import (
    Draft,
    Requirement,
    check_signatures,
    progress_of,
    requirements_for,
)
from tufsync.tuf.errors import OnlineKeyUnavailable, TufInputError
from tufsync.tuf.keys import OnlineKeyStore, foreign_target_paths
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.signing import canonical_bytes, online_signers, role_keys
from tufsync.tuf.validation import (
    check_delegations,
    check_root_keys_offline,
    parse_metadata,
    require_object,
)


@dataclass(frozen=True)
class StagedDrafts:
    role: str
    drafts: list[Draft]
    complete: bool


def _sign_online(md: Metadata[Any], signers: list[Any]) -> None:
    payload = canonical_bytes(md)
    for signer in signers:
        sig = signer.sign(payload)
        md.signatures[sig.keyid] = sig


def _refuse_foreign(repo: Repository, md: Metadata[Targets], where: str) -> None:
    """A draft the server will sign online at finalization must list only the tenant's
    own target files (the server never signs others'): refused now, at staging."""
    prefix = tenant_keys.artifact_prefix(repo.ref)
    foreign = foreign_target_paths(canonical_bytes(md), prefix)
    if foreign:
        shown = ", ".join(repr(p) for p in sorted(foreign)[:3])
        raise TufInputError(
            f"{where} lists {len(foreign)} target path(s) outside {prefix!r} (e.g. {shown}); "
            "the server signs only a repository's own artifacts"
        )


def _check_newer(md: Metadata[Targets], trusted_version: int, name: str, now: datetime) -> None:
    if md.signed.version <= trusted_version:
        raise TufInputError(
            f"{name} version {md.signed.version} is not newer than the trusted version "
            f"{trusted_version} (rollback)"
        )
    if md.signed.is_expired(now):
        raise TufInputError(f"{name} expired at {md.signed.expires.isoformat()} (freeze)")


async def stage_delegated_rotation(
    repo: Repository,
    config: RepoConfig,
    trusted: Trusted,
    body: dict[str, Any],
    keystore: OnlineKeyStore,
    now: datetime,
) -> StagedDrafts:
    """Validate a rotation request and return its drafts (signed with online keys)."""
    role = body.get("role")
    if not isinstance(role, str) or not role:
        raise TufInputError("role is required")
    if role in TOP_LEVEL_ROLES:
        raise TufInputError(f"{role!r} is a top-level role; rotate it through root instead")
    try:
        check_role_name(role)
    except InvalidName as exc:
        raise TufInputError(str(exc)) from None
    delegator_name = body.get("delegator", "targets")
    if delegator_name != "targets":
        raise TufInputError("delegator must be 'targets' (nested delegations are not supported)")
    metadata = require_object(body.get("metadata"), "metadata")
    if "targets" not in metadata and role not in metadata:
        raise TufInputError(f"metadata must contain 'targets' and/or {role!r}")
    unknown = [name for name in metadata if name not in ("targets", role)]
    if unknown:
        raise TufInputError(f"metadata may only contain 'targets' and {role!r}, not {unknown}")

    root = trusted.root.signed
    drafts: list[Draft] = []
    requirements: list[list[Requirement]] = []
    new_targets: Metadata[Targets] | None = None
    if "targets" in metadata:
        new_targets = parse_metadata(metadata["targets"], "metadata.targets", "targets")
        _check_newer(new_targets, trusted.targets.signed.version, "targets", now)
        if new_targets.signed.delegations is None:
            raise TufInputError("metadata.targets must keep its delegations")
        check_delegations(
            new_targets.signed.delegations.to_dict(),
            repo.admin,
            repo.app,
            "metadata.targets.signed.delegations",
        )
        check_root_keys_offline(root, {"delegated roles": new_targets.signed.delegations.keys})
        reqs = requirements_for("targets", new_targets, root, root)
        check_signatures(new_targets, reqs, "metadata.targets")
        if config.targets_online_key:
            _refuse_foreign(repo, new_targets, "metadata.targets")
        drafts.append(Draft("targets", new_targets.to_dict(), trusted.targets.signed.version))
        requirements.append(reqs)

    delegating = (new_targets or trusted.targets).signed
    roles = delegating.delegations.roles if delegating.delegations else None
    if not roles or role not in roles:
        raise TufInputError(f"the delegator does not delegate role {role!r}")
    trusted_meta = trusted.snapshot.signed.meta.get(f"{role}.json")
    trusted_role_version = trusted_meta.version if trusted_meta else 0

    role_md: Metadata[Targets] | None = None
    if role in metadata:
        role_md = parse_metadata(metadata[role], f"metadata.{role}", "targets")
        _check_newer(role_md, trusted_role_version, role, now)
    elif new_targets is not None and trusted_meta is not None:
        old_roles = trusted.targets.signed.delegations
        old_keys = (
            set(old_roles.roles[role].keyids)
            if old_roles and old_roles.roles and role in old_roles.roles
            else set()
        )
        if old_keys != set(roles[role].keyids):
            # The role's keys change: its current content is re-signed by the new keys.
            current = await repo.delegated(trusted, role)
            assert current is not None
            role_md = Metadata(
                Targets(
                    version=trusted_role_version + 1,
                    expires=new_targets.signed.expires,
                    targets=dict(current.signed.targets),
                )
            )
    elif new_targets is not None:
        # A role the delegator adds: it starts as an empty version 1.
        role_md = Metadata(Targets(version=1, expires=new_targets.signed.expires))
    if role_md is not None:
        reqs = requirements_for(role, role_md, root, delegating)
        check_signatures(role_md, reqs, f"metadata.{role}")
        _refuse_foreign(repo, role_md, f"metadata.{role}")
        try:
            signers = online_signers(keystore, repo.admin, repo.app, delegating, role)
        except OnlineKeyUnavailable as exc:
            raise TufInputError(
                f"the keys of role {role!r} must be online so the server can publish into it: {exc}"
            ) from None
        if role not in metadata:
            # The server built this version (the role's content under its new keys):
            # only the server can sign it, so it does so now.
            _sign_online(role_md, signers)
        drafts.append(Draft(role, role_md.to_dict(), trusted_role_version))
        requirements.append(reqs)

    complete = all(
        progress_of(d.parsed(), reqs).complete for d, reqs in zip(drafts, requirements, strict=True)
    )
    return StagedDrafts(role, drafts, complete)


def add_online_signatures(repo: Repository, trusted: Trusted, drafts: list[Draft]) -> list[Draft]:
    """Drafts with the signatures of every key of theirs the server holds online added."""
    keystore = repo.engine.keys
    root = trusted.root.signed
    by_role = {d.role: d.parsed() for d in drafts}
    delegating = by_role.get("targets", trusted.targets).signed
    out = []
    for draft in drafts:
        md = by_role[draft.role]
        delegator: Any = root if draft.role == "targets" else delegating
        keys, _threshold = role_keys(delegator, draft.role)
        payload = canonical_bytes(md)
        for keyid, key in keys.items():
            if keyid in md.signatures:
                continue
            signer = keystore.load_signer(repo.admin, repo.app, key)
            if signer is not None:
                sig = signer.sign(payload)
                md.signatures[sig.keyid] = sig
        out.append(Draft(draft.role, md.to_dict(), draft.trusted_version))
    return out


async def publish_delegated(
    repo: Repository, drafts: list[Draft], lock: HeldLock
) -> dict[str, int]:
    """Publish staged drafts whose thresholds are met; snapshot and timestamp follow."""
    change = await MetadataChange.begin(repo, lock)
    for draft in drafts:
        if draft.role == "targets":
            current = change.trusted.targets.signed.version
        else:
            meta = change.trusted.snapshot.signed.meta.get(f"{draft.role}.json")
            current = meta.version if meta is not None else 0
        if current != draft.trusted_version:
            raise TufInputError(
                f"role {draft.role!r} changed since the draft was staged (trusted version "
                f"{current}, draft based on {draft.trusted_version}); cancel and stage again"
            )
        change.presigned[draft.role] = draft.parsed()
    result = await change.commit()
    new_targets = change.presigned.get("targets")
    if new_targets is not None and new_targets.signed.delegations is not None:
        roles = new_targets.signed.delegations.roles or {}
        config = change.config.with_delegated_roles(
            {name: (r.threshold, len(r.keyids)) for name, r in roles.items()}
        )
        await repo.save_config(config)
        await repo.record_expiries({}, config)
    return result.versions
