"""The daily expiry watch over offline roles: warnings, and renewal drafts.

Run after each refresh pass (by whichever process holds the scheduler lock).
Offline roles about to lapse are logged once a day (each line says whether a
draft that renews the role awaits its holders' signatures, ``renewal_pending``),
and offline roles other than root expiring within the renewal horizon get a
``renew_offline_metadata`` task, which stages their renewal draft
(docs/api.md §5.6). A marker with a one-day time-to-live per (admin, app,
role) in the state store keeps each to once a day across every process of
the service.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tufsync import tenant_keys
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.submit import submit_task
from tufsync.tuf.expiry import drafts_pending, dumps_expires, read_schedules, warnings_of

log = logging.getLogger("tufsync.expiry")
WARN_EVERY = 24 * 3600.0
RENEW_EVERY = 24 * 3600.0


async def warn_expiring(services: TaskContext, now: datetime) -> int:
    """Log each offline role expiring within the horizon, at most once a day; return
    how many lines were written."""
    horizon = timedelta(days=services.settings.expiry_warning_days)
    schedules = await read_schedules(services.state)
    warnings = warnings_of(schedules, now, horizon)
    pending = await drafts_pending(services.state, schedules) if warnings else set()
    written = 0
    for warning in warnings:
        ref = tenant_keys.TenantRef(warning.admin, warning.app)
        marker = tenant_keys.expiry_warned(ref, warning.role)
        if not await services.state.set_if_absent(marker, dumps_expires(now), ttl=WARN_EVERY):
            continue
        days = warning.seconds_left / 86400
        renewal_pending = (warning.admin, warning.app, warning.role) in pending
        log.warning(
            "%s of %s/%s %s %s%s",
            warning.role,
            warning.admin,
            warning.app,
            "expired on" if warning.expired else f"expires in {days:.1f} days, on",
            dumps_expires(warning.expires),
            "; a draft renewing it awaits its key holders' signatures" if renewal_pending else "",
            extra={
                "fields": {
                    "event": "expiry_warning",
                    "admin": warning.admin,
                    "app": warning.app,
                    "role": warning.role,
                    "expires": dumps_expires(warning.expires),
                    "days_left": round(days, 2),
                    "renewal_pending": renewal_pending,
                }
            },
        )
        written += 1
    return written


async def renew_expiring(services: TaskContext, now: datetime) -> int:
    """Queue the renewal of each offline role but root expiring within the renewal
    horizon, at most once a day per role; return how many tasks were queued. The
    task itself never stages a second renewal while one is pending."""
    horizon = timedelta(days=services.settings.renewal_days)
    queued = 0
    for warning in warnings_of(await read_schedules(services.state), now, horizon):
        if warning.role == "root":  # renewed by a root rotation its holders make
            continue
        ref = tenant_keys.TenantRef(warning.admin, warning.app)
        marker = tenant_keys.renewal_queued(ref, warning.role)
        if not await services.state.set_if_absent(marker, dumps_expires(now), ttl=RENEW_EVERY):
            continue
        try:
            await submit_task(
                services, TaskName.RENEW_OFFLINE, warning.admin, warning.app, {"role": warning.role}
            )
        except BaseException:
            await services.state.delete(marker)
            raise
        queued += 1
    return queued
