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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tufsync.state import keys as state_keys
from tufsync.tasks.submit import submit_task
from tufsync.tuf.refresh import RefreshPolicy, RefreshSchedule

if TYPE_CHECKING:
    from tufsync.services import Services

log = logging.getLogger(__name__)
QUEUED_TTL = 15 * 60.0


@dataclass(frozen=True)
class PassReport:
    repositories: int
    due: int
    queued: int


async def refresh_pass(
    services: Services, now: datetime, policy: RefreshPolicy | None = None
) -> PassReport:
    policy = policy or RefreshPolicy()
    state = services.state
    keys = await state.keys(state_keys.REPO_PREFIX)
    entries = await state.get_many(keys)
    due = queued = 0
    for raw in entries.values():
        schedule = RefreshSchedule.from_json(raw)
        roles = schedule.due_roles(now, policy)
        if not roles:
            continue
        due += 1
        marker = state_keys.refresh_queued(schedule.admin, schedule.app)
        if not await state.set_if_absent(marker, "queued", ttl=QUEUED_TTL):
            continue
        try:
            await submit_task(
                services,
                "force_online_metadata_update",
                schedule.admin,
                schedule.app,
                {"roles": roles, "automatic": True},
            )
        except BaseException:
            await state.delete(marker)
            raise
        queued += 1
    return PassReport(len(entries), due, queued)


async def run_scheduler(services: Services, interval: float) -> None:
    """Run passes every ``interval`` seconds until cancelled."""
    while True:
        try:
            token = await services.state.acquire_lock(state_keys.SCHEDULER_LOCK, interval * 0.9)
            if token is not None:
                report = await refresh_pass(services, services.tuf.clock())
                if report.queued:
                    log.info(
                        "refresh: %d of %d repositories queued", report.queued, report.repositories
                    )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("refresh pass failed")
        await asyncio.sleep(interval)
