"""Delegated role rotation: stage new targets and/or delegated metadata for signing.

The caller sends a new ``targets`` (the delegator) and/or a new version of the
delegated role. Both must be newer than the trusted versions (no rollback),
unexpired (no freeze), well formed, and carry only signatures that verify with
keys the delegator authorises (no signer injection, no duplicate keyids). The
server adds the signatures of keys it holds online; the rest arrive through
the signing endpoint. Finalizing publishes them and re-signs snapshot and
timestamp.

A new targets delegates to at most ``MAX_DELEGATED_ROLES`` roles with names
no client could confuse (no top-level name in any case, none differing from
another only in case), every one of them already published except the role
being staged. Staging runs in worker threads: a targets of thousands of roles
is parsed, canonicalised and verified off the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from securesystemslib.signer import Signer
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, Targets

from tufsync import tenant_keys
from tufsync.names import TOP_LEVEL_ROLES, InvalidName, check_delegated_role_name
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
from tufsync.tuf.keys import OnlineKeyStore, TenantSigner, foreign_target_paths
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.signing import canonical_bytes, online_signers, role_keys
from tufsync.tuf.validation import (
    check_delegations,
    check_role_bound,
    check_root_keys_offline,
    parse_metadata,
    raw_field,
    require_object,
)


@dataclass(frozen=True)
class StagedDrafts:
    role: str
    drafts: list[Draft]
    complete: bool


@dataclass(frozen=True)
class RotationRequest:
    """The shape of a rotation request: the role and the metadata sent for it."""

    role: str
    metadata: dict[str, Any]


@dataclass
class _Staging:
    """A rotation being staged: the drafts so far and what the role's draft needs."""

    request: RotationRequest
    trusted: Trusted
    delegating: Targets
    new_targets: Metadata[Targets] | None
    trusted_role_version: int
    role_listed: bool
    drafts: list[Draft] = field(default_factory=list)
    requirements: list[list[Requirement]] = field(default_factory=list)

    @property
    def keys_change(self) -> bool:
        """The rotation gives the role other keys than the trusted targets does."""
        role = self.request.role
        old = self.trusted.targets.signed.delegations
        old_roles = old.roles if old is not None else None
        old_keys = set(old_roles[role].keyids) if old_roles and role in old_roles else set()
        new_roles = self.delegating.delegations.roles if self.delegating.delegations else None
        return new_roles is not None and old_keys != set(new_roles[role].keyids)

    @property
    def resigns_current(self) -> bool:
        """The server re-signs the role's current content under its new keys."""
        return (
            self.request.role not in self.request.metadata
            and self.new_targets is not None
            and self.role_listed
            and self.keys_change
        )

    def add(self, draft: Draft, requirements: list[Requirement]) -> None:
        self.drafts.append(draft)
        self.requirements.append(requirements)

    def result(self) -> StagedDrafts:
        complete = all(
            progress_of(d.parsed(), reqs).complete
            for d, reqs in zip(self.drafts, self.requirements, strict=True)
        )
        return StagedDrafts(self.request.role, self.drafts, complete)


def sign_with(md: Metadata[Any], signers: list[TenantSigner], role: str) -> None:
    """Add a signature by each of ``signers`` with python-tuf's ``Metadata.sign``."""
    for signer in signers:
        try:
            # TenantSigner offers the Signer interface Metadata.sign uses (sign, public_key).
            md.sign(cast(Signer, signer), append=True)
        except UnsignedMetadataError as exc:
            raise TufInputError(f"the server could not sign role {role!r}: {exc}") from None


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


def check_newer(md: Metadata[Targets], trusted_version: int, name: str, now: datetime) -> None:
    """A new version is newer than the trusted one and unexpired.

    https://theupdateframework.github.io/specification/latest/#update-targets (steps 4
    and 5: clients refuse rollback and freeze; so does the repository, before staging).
    """
    if md.signed.version <= trusted_version:
        raise TufInputError(
            f"{name} version {md.signed.version} is not newer than the trusted version "
            f"{trusted_version} (rollback)"
        )
    if md.signed.is_expired(now):
        raise TufInputError(f"{name} expired at {md.signed.expires.isoformat()} (freeze)")


def _requested_role(body: dict[str, Any]) -> str:
    role = body.get("role")
    if not isinstance(role, str) or not role:
        raise TufInputError("role is required")
    if role in TOP_LEVEL_ROLES:
        raise TufInputError(f"{role!r} is a top-level role; rotate it through root instead")
    try:
        return check_delegated_role_name(role)
    except InvalidName as exc:
        raise TufInputError(str(exc)) from None


def read_rotation_request(body: dict[str, Any]) -> RotationRequest:
    """The role, delegator and metadata of a rotation request, type-checked."""
    role = _requested_role(body)
    if body.get("delegator", "targets") != "targets":
        raise TufInputError("delegator must be 'targets' (nested delegations are not supported)")
    metadata = require_object(body.get("metadata"), "metadata")
    if "targets" not in metadata and role not in metadata:
        raise TufInputError(f"metadata must contain 'targets' and/or {role!r}")
    unknown = [name for name in metadata if name not in ("targets", role)]
    if unknown:
        raise TufInputError(f"metadata may only contain 'targets' and {role!r}, not {unknown}")
    return RotationRequest(role, metadata)


def check_delegated_roles_listed(targets: Targets, trusted: Trusted, role: str) -> None:
    """Every role the new targets delegates to has metadata, or is the role this rotation
    stages (it starts as an empty version 1): snapshot "MUST list the version numbers of
    the top-level targets metadata and all delegated targets metadata"
    (https://theupdateframework.github.io/specification/latest/#file-formats-snapshot),
    and a client cannot search a role it cannot download
    (https://theupdateframework.github.io/specification/latest/#update-targets, step 7).
    """
    listed = trusted.snapshot.signed.meta
    roles = targets.delegations.roles if targets.delegations else None
    missing = [name for name in roles or {} if name != role and f"{name}.json" not in listed]
    if missing:
        shown = ", ".join(repr(name) for name in missing[:3])
        raise TufInputError(
            f"metadata.targets delegates to {len(missing)} role(s) that have no metadata "
            f"({shown}); a rotation adds one role at a time: stage each new role as the "
            "rotation's 'role'"
        )


def check_new_targets(
    repo: Repository, config: RepoConfig, trusted: Trusted, request: RotationRequest, now: datetime
) -> tuple[Metadata[Targets], list[Requirement]]:
    """A new targets for a rotation: newer, unexpired, delegating to at most
    ``MAX_DELEGATED_ROLES`` well-formed roles that all have metadata, no root key
    among its delegation keys, and only signatures by targets keys that verify.

    https://theupdateframework.github.io/specification/latest/#file-formats-targets
    """
    raw = request.metadata["targets"]
    where = "metadata.targets.signed.delegations"
    check_role_bound(raw_field(raw, "signed", "delegations"), where)
    new_targets: Metadata[Targets] = parse_metadata(raw, "metadata.targets", "targets")
    check_newer(new_targets, trusted.targets.signed.version, "targets", now)
    delegations = new_targets.signed.delegations
    if delegations is None:
        raise TufInputError("metadata.targets must keep its delegations")
    check_delegations(delegations.to_dict(), repo.admin, repo.app, where)
    check_delegated_roles_listed(new_targets.signed, trusted, request.role)
    root = trusted.root.signed
    check_root_keys_offline(root, {"delegated roles": delegations.keys})
    reqs = requirements_for("targets", new_targets, root, root)
    check_signatures(new_targets, reqs, "metadata.targets")
    if config.targets_online_key:
        _refuse_foreign(repo, new_targets, "metadata.targets")
    return new_targets, reqs


def stage_targets(
    repo: Repository, config: RepoConfig, trusted: Trusted, request: RotationRequest, now: datetime
) -> _Staging:
    """First step: the new targets (if sent) as a draft, and the role's trusted state."""
    new_targets = None
    drafts: list[Draft] = []
    requirements: list[list[Requirement]] = []
    if "targets" in request.metadata:
        new_targets, reqs = check_new_targets(repo, config, trusted, request, now)
        drafts.append(Draft("targets", new_targets.to_dict(), trusted.targets.signed.version))
        requirements.append(reqs)
    delegating = (new_targets or trusted.targets).signed
    roles = delegating.delegations.roles if delegating.delegations else None
    if not roles or request.role not in roles:
        raise TufInputError(f"the delegator does not delegate role {request.role!r}")
    meta = trusted.snapshot.signed.meta.get(f"{request.role}.json")
    return _Staging(
        request,
        trusted,
        delegating,
        new_targets,
        trusted_role_version=meta.version if meta else 0,
        role_listed=meta is not None,
        drafts=drafts,
        requirements=requirements,
    )


def _role_draft(
    staging: _Staging, current: Metadata[Targets] | None, now: datetime
) -> Metadata[Targets] | None:
    """The role's new version: the caller's, its current content under new keys, an
    empty version 1 for a role the delegator adds, or None (only targets changes)."""
    role, version = staging.request.role, staging.trusted_role_version
    if role in staging.request.metadata:
        role_md: Metadata[Targets] = parse_metadata(
            staging.request.metadata[role], f"metadata.{role}", "targets"
        )
        check_newer(role_md, version, role, now)
        return role_md
    if staging.new_targets is None:
        return None
    expires = staging.new_targets.signed.expires
    if not staging.role_listed:
        return Metadata(Targets(version=1, expires=expires))
    if current is None:
        return None
    return Metadata(
        Targets(version=version + 1, expires=expires, targets=dict(current.signed.targets))
    )


def stage_role(
    repo: Repository,
    staging: _Staging,
    current: Metadata[Targets] | None,
    keystore: OnlineKeyStore,
    now: datetime,
) -> StagedDrafts:
    """Second step: the role's draft, checked, and signed by the server when the server
    built it (the role's content under its new keys: only the server can sign that)."""
    role = staging.request.role
    role_md = _role_draft(staging, current, now)
    if role_md is not None:
        reqs = requirements_for(role, role_md, staging.trusted.root.signed, staging.delegating)
        check_signatures(role_md, reqs, f"metadata.{role}")
        _refuse_foreign(repo, role_md, f"metadata.{role}")
        if role not in staging.request.metadata:
            # The server signs what it built with the role's keys it holds online; a role
            # whose keys it does not hold is signed by their holders, and releases into
            # it become drafts for them (docs/api.md §5.3).
            sign_with(role_md, _held_signers(repo, keystore, staging.delegating, role), role)
        staging.add(Draft(role, role_md.to_dict(), staging.trusted_role_version), reqs)
    return staging.result()


def _held_signers(
    repo: Repository, keystore: OnlineKeyStore, delegator: Targets, role: str
) -> list[TenantSigner]:
    """Signers of the keys of ``role`` the server holds online (possibly none)."""
    try:
        return online_signers(keystore, repo.admin, repo.app, delegator, role)
    except OnlineKeyUnavailable:
        keys, _threshold = role_keys(delegator, role)
        held = (keystore.load_signer(repo.admin, repo.app, key) for key in keys.values())
        return [signer for signer in held if signer is not None]


async def stage_delegated_rotation(
    repo: Repository,
    config: RepoConfig,
    trusted: Trusted,
    body: dict[str, Any],
    keystore: OnlineKeyStore,
    now: datetime,
) -> StagedDrafts:
    """Validate a rotation request and return its drafts (signed with online keys).

    The checks and signatures run in worker threads (parsing, canonicalising and
    verifying a targets of thousands of roles is CPU work); only reading the role's
    current metadata, when its keys change, awaits in between.
    """
    request = read_rotation_request(body)
    staging = await asyncio.to_thread(stage_targets, repo, config, trusted, request, now)
    current = None
    if staging.resigns_current:
        current = await repo.delegated(trusted, request.role)
    return await asyncio.to_thread(stage_role, repo, staging, current, keystore, now)


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
        signers = [
            signer
            for keyid, key in keys.items()
            if keyid not in md.signatures
            and (signer := keystore.load_signer(repo.admin, repo.app, key)) is not None
        ]
        sign_with(md, signers, draft.role)
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
