"""One repository at a glance: version, expiry and signing of every role.

Top-level roles come from the trusted metadata; delegated roles' versions from
the trusted snapshot and their expiries from the repository's schedule, so a
repository with thousands of hash bins is described without loading them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
