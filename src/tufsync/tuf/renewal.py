"""The renewal draft of an offline role before it expires (docs/api.md §5.6).

The service cannot re-sign a role whose keys it does not hold (targets signed
offline, a delegated role with offline keys), so some days before such a role
expires it stages the role's next version for its key holders: the trusted
content, version + 1 and a new expiry (the role's configured lifetime). A
pending release draft of the role already renews it when signed: it is left
as it is, unless it would itself expire soon, in which case its expiry is
renewed (its content changes, so signatures over the old bytes are dropped
and its note says so). Root is never renewed here: a new root is a rotation
its holders make (``POST /tuf/v1/metadata``). Run under the repository lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tufsync.state.locks import HeldLock
from tufsync.tuf.changes import MetadataChange, RotationPending
from tufsync.tuf.clock import expiry_after
from tufsync.tuf.drafts import RELEASE, DraftStore
from tufsync.tuf.expiry import dumps_expires
from tufsync.tuf.repository import Repository


@dataclass(frozen=True)
class Renewal:
    """What the renewal did: ``staged`` is the draft version stored (None: nothing
    was staged) and ``message`` says why, in a sentence for the task's record."""

    staged: int | None
    message: str


def draft_margin(horizon: timedelta, lifetime_days: int) -> timedelta:
    """How close to its own expiry a pending draft of a role may come before its
    expiry is renewed: the renewal horizon, but never more than half the role's
    lifetime, so a draft just made is not renewed again the next day."""
    return min(horizon, timedelta(days=lifetime_days) / 2)


async def _trusted_expiry(change: MetadataChange, role: str, version: int) -> datetime | None:
    if role == "targets":
        return change.trusted.targets.signed.expires
    md = await change.repo.files.targets_role(role, version)
    return None if md is None else md.signed.expires


async def renew_offline(repo: Repository, lock: HeldLock, role: str, horizon: timedelta) -> Renewal:
    """Stage the renewal draft of ``role`` when its trusted version expires within
    ``horizon`` and no draft of the role will renew it (caller holds ``lock``)."""
    if role == "root":
        return Renewal(
            None, "Root is renewed by a root rotation its key holders sign, never by a draft here."
        )
    change = await MetadataChange.begin(repo, lock)
    version = change.trusted_version(role)
    if version is None:
        return Renewal(None, f"Role {role} is no longer delegated: nothing to renew.")
    if change.can_sign(role):
        return Renewal(None, f"Role {role} is signed online now: the refresh renews it.")
    expires = await _trusted_expiry(change, role, version)
    if expires is None:
        return Renewal(None, f"The metadata of role {role} is missing from the store.")
    now = repo.engine.clock()
    if expires > now + horizon:
        return Renewal(
            None,
            f"Role {role} expires on {dumps_expires(expires)}, beyond the renewal horizon: "
            "not renewed yet.",
        )
    lifetime = change.config.expiration_days(role)
    pending = await DraftStore(repo).get(role)
    try:
        if pending is not None and pending.trusted_version == version:
            if pending.kind != RELEASE:
                return Renewal(
                    None,
                    f"A key rotation of role {role} awaits signatures: signed, it renews the "
                    "role; sign it or cancel it (POST /tuf/v1/metadata/sign/delete).",
                )
            draft_expires = pending.parsed().signed.expires
            if draft_expires > now + draft_margin(horizon, lifetime):
                return Renewal(
                    None,
                    f"The {role} draft (version {pending.parsed().signed.version}) awaiting "
                    f"signatures renews the role and expires on {dumps_expires(draft_expires)}: "
                    "left as it is.",
                )
            md = await change.open(role, as_draft=True)
            md.signed.expires = expiry_after(now, lifetime)
            change.notes[role] = (
                f"The expiry of the {role} draft was renewed to "
                f"{dumps_expires(md.signed.expires)}: it would have expired before its "
                "holders signed it."
            )
            what = "expiry of the pending draft renewed"
        else:
            await change.open(role, as_draft=True)
            change.renewals.add(role)
            what = "renewal draft staged"
    except RotationPending as exc:
        return Renewal(None, str(exc))
    result = await change.commit()
    staged = result.staged[role]
    return Renewal(
        staged,
        f"Role {role} expires on {dumps_expires(expires)}: {what} (version {staged}) for its "
        "key holders to sign (POST /tuf/v1/metadata/sign).",
    )
