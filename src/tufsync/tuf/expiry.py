"""Expiry of every repository's roles, read from the refresh schedules.

Each repository's schedule (kept by every metadata change) holds the expiry
of its online roles and of its offline ones: root, targets when signed
offline, delegated roles the server cannot sign. Offline roles are never
refreshed by the service, so those expiring within the warning horizon are
reported here; nothing in this module loads metadata.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tufsync import tenant_keys
from tufsync.names import InvalidName
from tufsync.state import StateStore
from tufsync.tuf.refresh import RefreshSchedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpiryWarning:
    admin: str
    app: str
    role: str
    expires: datetime
    seconds_left: float

    @property
    def expired(self) -> bool:
        return self.seconds_left <= 0


async def read_schedules(
    state: StateStore, prefix: str = tenant_keys.SCHEDULE_PREFIX
) -> list[RefreshSchedule]:
    """Every schedule under ``prefix``; an entry that cannot be parsed, or that names
    another repository than its key, is skipped and logged."""
    entries = await state.get_many(await state.keys(prefix))
    schedules = []
    for key, raw in sorted(entries.items()):
        try:
            ref = tenant_keys.parse_schedule(key)
            schedule = RefreshSchedule.from_json(raw)
            if (schedule.admin, schedule.app) != (ref.admin, ref.app):
                raise ValueError(f"entry names {schedule.admin}/{schedule.app}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("skipping unreadable expiry schedule %r: %s", key, exc)
            continue
        schedules.append(schedule)
    return schedules


async def admin_schedules(state: StateStore, admin: str) -> list[RefreshSchedule]:
    """The schedules of one admin's repositories (never another admin's)."""
    found = await read_schedules(state, tenant_keys.admin_schedule_prefix(admin))
    return [s for s in found if s.admin == admin]


def warnings_for(
    schedule: RefreshSchedule, now: datetime, horizon: timedelta
) -> list[ExpiryWarning]:
    """Offline roles of one repository expiring within ``horizon`` (soonest first)."""
    out = [
        ExpiryWarning(
            schedule.admin,
            schedule.app,
            role,
            datetime.fromtimestamp(when, UTC),
            when - now.timestamp(),
        )
        for role, when in schedule.expiring_offline(now, horizon).items()
    ]
    return sorted(out, key=lambda w: (w.seconds_left, w.role))


def warnings_of(
    schedules: list[RefreshSchedule], now: datetime, horizon: timedelta
) -> list[ExpiryWarning]:
    out = [w for s in schedules for w in warnings_for(s, now, horizon)]
    return sorted(out, key=lambda w: (w.seconds_left, w.app, w.role))


async def drafts_pending(
    state: StateStore, schedules: list[RefreshSchedule]
) -> set[tuple[str, str, str]]:
    """(admin, app, role) of each offline role with a draft awaiting its holders'
    signatures: signed, the draft publishes a new version with a new expiry (a
    renewal, a release, or for root a rotation). One read for every role."""
    keys: dict[str, tuple[str, str, str]] = {}
    for schedule in schedules:
        ref = tenant_keys.TenantRef(schedule.admin, schedule.app)
        for role in schedule.offline:
            try:
                keys[tenant_keys.draft(ref, role)] = (schedule.admin, schedule.app, role)
            except InvalidName:  # not a role a draft can have; never stops the others
                continue
    if not keys:
        return set()
    found = await state.get_many(list(keys))
    return {keys[key] for key in found}


def dumps_expires(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
