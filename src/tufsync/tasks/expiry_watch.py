"""The daily expiry warning: offline roles about to lapse are logged once a day.

Run after each refresh pass (by whichever process holds the scheduler lock).
A marker with a one-day time-to-live per (admin, app, role) in the state store
keeps the warning to one line a day across every process of the service.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tufsync import tenant_keys
from tufsync.tasks.contract import TaskContext
from tufsync.tuf.expiry import dumps_expires, read_schedules, warnings_of

log = logging.getLogger("tufsync.expiry")
WARN_EVERY = 24 * 3600.0


async def warn_expiring(services: TaskContext, now: datetime) -> int:
    """Log each offline role expiring within the horizon, at most once a day; return
    how many lines were written."""
    horizon = timedelta(days=services.settings.expiry_warning_days)
    written = 0
    for warning in warnings_of(await read_schedules(services.state), now, horizon):
        ref = tenant_keys.TenantRef(warning.admin, warning.app)
        marker = tenant_keys.expiry_warned(ref, warning.role)
        if not await services.state.set_if_absent(marker, dumps_expires(now), ttl=WARN_EVERY):
            continue
        days = warning.seconds_left / 86400
        log.warning(
            "%s of %s/%s %s %s",
            warning.role,
            warning.admin,
            warning.app,
            "expired on" if warning.expired else f"expires in {days:.1f} days, on",
            dumps_expires(warning.expires),
            extra={
                "fields": {
                    "event": "expiry_warning",
                    "admin": warning.admin,
                    "app": warning.app,
                    "role": warning.role,
                    "expires": dumps_expires(warning.expires),
                    "days_left": round(days, 2),
                }
            },
        )
        written += 1
    return written
