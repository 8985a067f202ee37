"""When online metadata must be re-signed so it never expires.

Each repository keeps a small schedule in the state store: the expiry and
lifetime of every online role (timestamp, snapshot, targets when online,
delegated roles). A role is due when less than ``fraction`` of its lifetime
remains, and always at least ``min_margin`` before it expires. Root is signed
offline and never refreshed here: the schedule keeps the expiry of root, of
targets when it is signed offline, and of delegated roles the server cannot
sign (``offline``), so warnings before they lapse need no metadata reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tufsync.tuf.config import RepoConfig

DAY = 86400.0


@dataclass(frozen=True)
class RefreshPolicy:
    fraction: float = 0.5
    min_margin: timedelta = timedelta(hours=6)

    def margin(self, lifetime: float) -> float:
        return max(self.fraction * lifetime, min(self.min_margin.total_seconds(), lifetime))

    def is_due(self, expires: float, lifetime: float, now: float) -> bool:
        return expires - now <= self.margin(lifetime)


@dataclass(frozen=True)
class RefreshSchedule:
    admin: str
    app: str
    expires: dict[str, float]
    lifetimes: dict[str, float] = field(default_factory=dict)
    offline: dict[str, float] = field(default_factory=dict)

    def due_roles(self, now: datetime, policy: RefreshPolicy) -> list[str]:
        stamp = now.timestamp()
        return sorted(
            role
            for role, expires in self.expires.items()
            if policy.is_due(expires, self.lifetimes.get(role, DAY), stamp)
        )

    def updated(
        self,
        expiries: dict[str, datetime],
        config: RepoConfig,
        offline_roles: frozenset[str] = frozenset(),
        *,
        config_unchanged: bool = False,
    ) -> RefreshSchedule:
        """Merge new expiries. Root, offline targets and ``offline_roles`` (delegated
        roles the server cannot sign) go to ``offline``; the others are refreshed.

        A role's lifetime depends on ``config`` alone: with ``config_unchanged``
        (this schedule's lifetimes were computed from an equal config) the known
        ones are kept, so a change to one of 1,024 hash bins does not look up all.
        """
        expires = dict(self.expires)
        offline = dict(self.offline)
        for role, when in expiries.items():
            if _signed_offline(role, config, offline_roles):
                offline[role] = when.timestamp()
                expires.pop(role, None)
            else:
                expires[role] = when.timestamp()
                offline.pop(role, None)
        known = {"root", "targets", *config.delegated_roles, *expiries}
        offline = {role: when for role, when in offline.items() if role in known}
        known_lifetimes = self.lifetimes if config_unchanged else {}
        lifetimes = {
            role: known_lifetimes.get(role) or config.expiration_days(role) * DAY
            for role in expires
        }
        return RefreshSchedule(self.admin, self.app, expires, lifetimes, offline)

    def expiring_offline(self, now: datetime, horizon: timedelta) -> dict[str, float]:
        """Offline roles whose expiry is within ``horizon`` of ``now`` (or past)."""
        limit = (now + horizon).timestamp()
        return {role: when for role, when in self.offline.items() if when <= limit}

    def to_json(self) -> str:
        return json.dumps(
            {
                "admin": self.admin,
                "app": self.app,
                "expires": self.expires,
                "lifetimes": self.lifetimes,
                "offline": self.offline,
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> RefreshSchedule:
        """Parse a stored schedule; ValueError when it is not one."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("a schedule is a JSON object")
        expires = _role_numbers(data.get("expires"))
        lifetimes = _role_numbers(data.get("lifetimes", {}))
        offline = _role_numbers(data.get("offline", {}))
        admin, app = data.get("admin"), data.get("app")
        if not isinstance(admin, str) or not isinstance(app, str):
            raise ValueError("a schedule names its admin and app")
        return cls(admin, app, expires, lifetimes, offline)


def _signed_offline(role: str, config: RepoConfig, offline_roles: frozenset[str]) -> bool:
    """Root, targets without an online key, and delegated roles the server cannot sign."""
    return (
        role == "root"
        or (role == "targets" and not config.targets_online_key)
        or role in offline_roles
    )


def _role_numbers(table: object) -> dict[str, float]:
    """A stored role → number table; ValueError when it is not one."""
    if not isinstance(table, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in table.values()
    ):
        raise ValueError("schedule expiries and lifetimes must map roles to numbers")
    return table
