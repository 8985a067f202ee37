"""The signing flow over stored drafts: list, add one signature, finalize, cancel.

Signature posts are serialised by a per-repository drafts lock, so two
concurrent posts never lose a signature. Root drafts are finalized alone;
while a targets draft is pending (a delegated rotation, or an offline targets
delegating a new path) every non-root draft is finalized with it, once each
meets its threshold; otherwise a role's draft (a release into a role the
server cannot sign) is finalized alone. A draft that
expired while it waited for signatures (or expires within a minute) is never
published: signing it, listing it and finalizing it say it must be made again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tufsync.state.locks import HeldLock, hold_lock
from tufsync.tuf.config import RepoConfig
from tufsync.tuf.delegated_rotation import add_online_signatures, publish_delegated
from tufsync.tuf.drafts import (
    Draft,
    DraftExpired,
    DraftStore,
    Finalizing,
    Requirement,
    add_signature,
    progress_of,
    refuse_expired,
    requirements_for,
)
from tufsync.tuf.errors import TufError
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.rotation import (
    TargetsNotSignedForRoot,
    publish_root,
    require_top_level_verifies,
)


class NoDraft(TufError):
    """No signing process exists for the role."""


@dataclass(frozen=True)
class SignOutcome:
    """``complete``: the signed draft now meets its threshold(s); ``message``
    says how far it got otherwise (faynoSync's wording)."""

    complete: bool
    message: str


async def draft_roles(repo: Repository, config: RepoConfig) -> list[str]:
    """Roles that may have drafts: root, targets, delegated roles, and the roles a
    pending targets draft delegates to (a rotation may add one)."""
    roles = ["root", "targets", *config.delegated_roles]
    targets_draft = await DraftStore(repo).get("targets")
    if targets_draft is not None:
        delegations = targets_draft.metadata["signed"].get("delegations") or {}
        roles += [r["name"] for r in delegations.get("roles") or [] if r["name"] not in roles]
    return roles


def requirements(
    role: str, draft: Draft, trusted: Trusted, drafts: dict[str, Draft]
) -> list[Requirement]:
    root = trusted.root.signed
    if role in ("root", "targets"):
        return requirements_for(role, draft.parsed(), root, root)
    delegating = (
        drafts["targets"].parsed().signed if "targets" in drafts else trusted.targets.signed
    )
    return requirements_for(role, draft.parsed(), root, delegating)


async def pending(repo: Repository, config: RepoConfig) -> dict[str, Draft]:
    return await DraftStore(repo).all(await draft_roles(repo, config))


def incomplete_roles(
    trusted: Trusted, drafts: dict[str, Draft], group: dict[str, Draft]
) -> list[str]:
    """Roles of ``group`` (drafts published together) still short of signatures."""
    return sorted(
        r
        for r, d in group.items()
        if not progress_of(d.parsed(), requirements(r, d, trusted, drafts)).complete
    )


def expired_notes(drafts: dict[str, Draft], now: datetime) -> list[str]:
    """A sentence for each of ``drafts`` that can no longer be published."""
    notes = (drafts[role].expiry_problem(now) for role in sorted(drafts))
    return [note for note in notes if note is not None]


def pending_message(drafts: dict[str, Draft], now: datetime) -> str:
    """The message of the signing queue: what is pending, which drafts expired, and
    which lost signatures because their content changed."""
    notes = [drafts[role].note.rstrip(".") for role in sorted(drafts) if drafts[role].note]
    return ". ".join(["Metadata role(s) pending signing", *expired_notes(drafts, now), *notes])


def published_with(role: str, drafts: dict[str, Draft]) -> dict[str, Draft]:
    """The drafts published together with ``role``'s: root alone; every non-root draft
    while a targets draft is pending (a delegated rotation, or an offline targets
    delegating a new path: the roles' new versions depend on it); else the role's own
    draft (a release into one offline role is published when its holders signed it)."""
    if role == "root":
        return {"root": drafts["root"]}
    if "targets" in drafts:
        return {r: d for r, d in drafts.items() if r != "root"}
    return {role: drafts[role]} if role in drafts else {}


async def sign(
    repo: Repository,
    config: RepoConfig,
    role: str,
    signature: dict[str, Any],
    finalize_task: str | None = None,
) -> SignOutcome:
    """Verify and add one signature; say whether the draft can now be finalized.

    A draft that expired (or expires within a minute), or one published together
    with it, takes no more signatures: :class:`~tufsync.tuf.drafts.DraftExpired`
    says it must be made again (faynoSync's server, too, refuses signing
    expired metadata). A root draft whose last signature arrived is refused with
    :class:`~tufsync.tuf.rotation.TargetsNotSignedForRoot` (the signature is kept)
    when the published offline targets would not verify under it.

    When the signature completes the draft's group (what :func:`finalize` publishes
    together), the finalize marker first names ``finalize_task``, then the signature
    is stored: a crash in between leaves a marker the sweep drops (the group is not
    complete), a crash after it a marker the sweep finishes
    (:mod:`tufsync.tasks.drafts_sweep`).
    """
    store = DraftStore(repo)
    async with hold_lock(repo.state, store.lock_name, ttl=30, wait=30):
        drafts = await store.all(await draft_roles(repo, config))
        draft = drafts.get(role)
        if draft is None:
            raise NoDraft(f"The {role} role is not in a signing process.")
        expired = expired_notes(published_with(role, drafts), repo.engine.clock())
        if expired:
            raise DraftExpired(" ".join(expired))
        trusted = await repo.trusted()
        reqs = requirements(role, draft, trusted, drafts)
        md = draft.parsed()
        add_signature(md, signature, reqs)
        draft.metadata = md.to_dict()
        progress = progress_of(md, reqs)
        refused: TargetsNotSignedForRoot | None = None
        if role == "root" and progress.complete:
            try:
                require_top_level_verifies(md.signed, trusted.targets, config.targets_online_key)
            except TargetsNotSignedForRoot as exc:
                refused = exc  # the signature is kept; nothing is to be finalized
        if finalize_task and progress.complete and refused is None:
            drafts[role] = draft
            group = published_with(role, drafts)
            if not incomplete_roles(trusted, drafts, group):
                await store.mark_finalizing(Finalizing(finalize_task, role))
        await store.save(draft)
        if refused is not None:
            raise refused
        message = progress.message(role)
        if draft.note and not progress.complete:
            message += f" {draft.note}"
        return SignOutcome(progress.complete, message)


async def finalize(
    repo: Repository, config: RepoConfig, role: str, lock: HeldLock
) -> dict[str, int] | list[str]:
    """Publish the draft(s) of ``role`` and remove them (caller holds the repository lock).

    The drafts of a delegated rotation are published together once each meets
    its threshold, with the server's online signatures added; until then this
    returns the roles still awaiting signatures and publishes nothing. A draft
    that expired (or expires within a minute) is refused with
    :class:`~tufsync.tuf.drafts.DraftExpired` and kept, so the signing queue
    says why.
    """
    store = DraftStore(repo)
    drafts = await store.all(await draft_roles(repo, config))
    if role == "root":
        draft = drafts.get("root")
        if draft is None:
            raise NoDraft("The root role is not in a signing process.")
        versions = await publish_root(repo, draft.parsed(), lock)
        await store.delete("root")
        return versions
    together = published_with(role, drafts)
    if not together:
        raise NoDraft(f"The {role} role is not in a signing process.")
    waiting = incomplete_roles(await repo.trusted(), drafts, together)
    if waiting:
        return waiting
    group = list(together.values())
    now = repo.engine.clock()
    for draft in group:
        refuse_expired(draft.role, draft.parsed().signed, now)
    group = add_online_signatures(repo, await repo.trusted(), group)
    versions = await publish_delegated(repo, group, lock)
    for draft in group:
        await store.delete(draft.role)
    return versions
