"""The automatic refresh: one pass finds due online roles in every repository.

A pass reads every repository's expiry schedule from the state store (no
metadata is loaded for repositories with nothing due) and queues one
``force_online_metadata_update`` task per due repository; a marker with a
time-to-live keeps a repository from being queued twice. In scale-out mode
many processes run the loop, but a lock lets only one of them do a pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from tufsync import tenant_keys
from tufsync.tasks.claims import sweep_orphan_claims
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.drafts_sweep import sweep_signed_drafts
from tufsync.tasks.expiry_watch import renew_expiring, warn_expiring
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.online_key_expiry import expire_unused
from tufsync.tasks.stale import requeue_stale
from tufsync.tasks.submit import submit_task
from tufsync.tuf.refresh import RefreshPolicy, RefreshSchedule

log = logging.getLogger(__name__)
QUEUED_TTL = 15 * 60.0
CLAIM_MIN_AGE = 120.0
STALE_MIN_AGE = 300.0


@dataclass(frozen=True)
class PassReport:
    repositories: int
    due: int
    queued: int


def _parse(key: str, raw: str) -> RefreshSchedule | None:
    """The schedule stored under ``key``, or None (logged) when the entry is unreadable,
    so one bad entry never stops the refresh of every other repository."""
    try:
        ref = tenant_keys.parse_schedule(key)
        schedule = RefreshSchedule.from_json(raw)
        if (schedule.admin, schedule.app) != (ref.admin, ref.app):
            raise ValueError(f"entry names {schedule.admin}/{schedule.app}")
        return schedule
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("refresh: skipping unreadable schedule %r: %s", key, exc)
        return None


async def refresh_pass(
    services: TaskContext, now: datetime, policy: RefreshPolicy | None = None
) -> PassReport:
    policy = policy or RefreshPolicy()
    state = services.state
    keys = await state.keys(tenant_keys.SCHEDULE_PREFIX)
    entries = await state.get_many(keys)
    due = queued = 0
    for key, raw in sorted(entries.items()):
        schedule = _parse(key, raw)
        if schedule is None:
            continue
        roles = schedule.due_roles(now, policy)
        if not roles:
            continue
        due += 1
        marker = tenant_keys.refresh_queued(tenant_keys.TenantRef(schedule.admin, schedule.app))
        if not await state.set_if_absent(marker, "queued", ttl=QUEUED_TTL):
            continue
        try:
            await submit_task(
                services,
                TaskName.FORCE_UPDATE,
                schedule.admin,
                schedule.app,
                {"roles": roles, "automatic": True},
            )
        except BaseException:
            await state.delete(marker)
            raise
        queued += 1
    return PassReport(len(entries), due, queued)


async def run_scheduler(services: TaskContext, interval: float) -> None:
    """Run passes every ``interval`` seconds until cancelled; look for expiring
    offline roles (warnings, renewal drafts) every ``20 * interval`` (at most every
    10 minutes)."""
    warn_every = min(20 * interval, 600.0)
    next_warning = 0.0
    while True:
        try:
            token = await services.state.acquire_lock(tenant_keys.SCHEDULER_LOCK, interval * 0.9)
            if token is not None:
                report = await refresh_pass(services, services.tuf.clock())
                await sweep_orphan_claims(services, min_age=CLAIM_MIN_AGE)
                await sweep_signed_drafts(services)
                await requeue_stale(
                    services, max(STALE_MIN_AGE, 2 * services.settings.task_redelivery_seconds)
                )
                if report.queued:
                    log.info(
                        "refresh: %d of %d repositories queued", report.queued, report.repositories
                    )
                if time.monotonic() >= next_warning:
                    next_warning = time.monotonic() + warn_every
                    await warn_expiring(services, services.tuf.clock())
                    await renew_expiring(services, services.tuf.clock())
                    await expire_unused(services, services.tuf.clock())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("refresh pass failed")
        await asyncio.sleep(interval)
