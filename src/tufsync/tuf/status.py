"""One repository at a glance: version, expiry and signing of every role, the
drafts awaiting signatures, and what an operator must know (alerts).

Top-level roles come from the trusted metadata; delegated roles' versions from
the trusted snapshot and their expiries from the repository's schedule, so a
repository with thousands of hash bins is described without loading them.
Alerts say, never silently, when the published timestamp or snapshot points at
a role that expired (clients refuse it: TUF specification §5.3.10, §5.4.4,
§5.5.6, §5.6.5), and when targets is signed online while a delegated role is
not (docs/design.md: a server holding the targets key can re-delegate any role).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tufsync.tuf.config import RepoConfig
from tufsync.tuf.drafts import Draft
from tufsync.tuf.expiry import dumps_expires
from tufsync.tuf.repository import Repository

ONLINE, OFFLINE = "online", "offline"


@dataclass(frozen=True)
class RoleStatus:
    role: str
    version: int
    expires: datetime | None
    signing: str


async def role_statuses(repo: Repository) -> list[RoleStatus]:
    """Every role of the trusted repository (root first, delegated roles last)."""
    config = await repo.require_config()
    trusted = await repo.trusted()
    schedule = await repo.schedule()
    online = schedule.expires if schedule else {}
    offline = schedule.offline if schedule else {}
    out = [
        RoleStatus("root", trusted.root.signed.version, trusted.root.signed.expires, OFFLINE),
        RoleStatus(
            "timestamp", trusted.timestamp.signed.version, trusted.timestamp.signed.expires, ONLINE
        ),
        RoleStatus(
            "snapshot", trusted.snapshot.signed.version, trusted.snapshot.signed.expires, ONLINE
        ),
        RoleStatus(
            "targets",
            trusted.targets.signed.version,
            trusted.targets.signed.expires,
            ONLINE if config.targets_online_key else OFFLINE,
        ),
    ]
    for name, meta in sorted(trusted.snapshot.signed.meta.items()):
        role = name.removesuffix(".json")
        if role == "targets":
            continue
        when = offline.get(role, online.get(role))
        out.append(
            RoleStatus(
                role,
                meta.version,
                None if when is None else datetime.fromtimestamp(when, UTC),
                OFFLINE if role in offline else ONLINE,
            )
        )
    return out


@dataclass(frozen=True)
class DraftStatus:
    """A draft awaiting signatures: its kind (``rotation``, ``release`` or
    ``renewal``), the version it would publish and its expiry."""

    role: str
    kind: str
    version: int
    expires: datetime


def draft_statuses(drafts: dict[str, Draft]) -> list[DraftStatus]:
    out = []
    for role in sorted(drafts):
        draft = drafts[role]
        signed = draft.parsed().signed
        out.append(DraftStatus(role, draft.purpose, signed.version, signed.expires))
    return out


MAX_EXPIRED_ALERTS = 10
_SIGN = "its key holders sign it (tufsync drafts; tufsync sign --role {role})"


def _expired_alert(status: RoleStatus, drafts: dict[str, Draft]) -> str:
    role, when = status.role, dumps_expires(status.expires) if status.expires else "?"
    if role == "timestamp":
        return (
            f"timestamp version {status.version} expired on {when}: every client refuses "
            "the repository until the refresh re-signs it (POST /tuf/v1/metadata/online)."
        )
    if role == "root":
        remedy = (
            "until the pending root rotation is signed"
            if "root" in drafts
            else "until its key holders sign a root rotation (POST /tuf/v1/metadata)"
        )
        return (
            f"root version {status.version} expired on {when}: every client refuses the "
            f"repository {remedy}."
        )
    pointer = "timestamp points at" if role == "snapshot" else "snapshot points at"
    if role in drafts:
        remedy = "until the pending draft is published: " + _SIGN.format(role=role)
    elif status.signing == ONLINE:
        remedy = "until the refresh re-signs it (POST /tuf/v1/metadata/online)"
    else:
        remedy = (
            "until its key holders sign a new version; no draft of it is pending (the "
            "service stages a renewal draft before an offline role expires)"
        )
    return (
        f"{pointer} {role} version {status.version}, which expired on {when}: clients "
        f"refuse it and every artifact below it {remedy}."
    )


def alerts(
    roles: list[RoleStatus], drafts: dict[str, Draft], config: RepoConfig, now: datetime
) -> list[str]:
    """Sentences an operator must read: expired roles the published metadata still
    points at, and the guarantee online targets cannot give offline delegated roles."""
    expired = [s for s in roles if s.expires is not None and s.expires <= now]
    out = [_expired_alert(status, drafts) for status in expired[:MAX_EXPIRED_ALERTS]]
    if len(expired) > MAX_EXPIRED_ALERTS:  # e.g. thousands of hash bins
        out.append(f"{len(expired) - MAX_EXPIRED_ALERTS} more roles expired as well.")
    offline = [s.role for s in roles if s.signing == OFFLINE and s.role not in ("root", "targets")]
    if config.targets_online_key and offline:
        out.append(
            f"targets is signed online while delegated role(s) {', '.join(offline)} are "
            "signed offline: a compromised server could re-delegate them to a key it "
            "holds and sign any artifact for them. Whoever needs that guarantee should "
            "sign targets offline too (its keys with its holders, not the server)."
        )
    return out
