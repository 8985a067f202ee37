"""Dropping claims on target paths whose task no longer runs.

A route claims paths, then hands the task to the queue; a crash in between
leaves claims no task will ever release. Claims whose task record is missing
or finished are dropped, so the paths can be uploaded or deleted again: at
start-up of the embedded mode (no request is being served yet) all of them,
and in every refresh pass (both modes) those older than ``min_age`` seconds,
which no request can still be about to queue.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from tufsync.db import queries
from tufsync.db.models import TufClaim, utcnow
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.records import PENDING, STARTED

log = logging.getLogger(__name__)


async def sweep_orphan_claims(services: TaskContext, min_age: float = 0.0) -> int:
    """Release claims of tasks that are not PENDING or STARTED; return how many tasks."""
    query = select(TufClaim.task_id)
    if min_age > 0:
        query = query.where(TufClaim.created_at < utcnow() - timedelta(seconds=min_age))
    async with services.reads() as session:
        task_ids = sorted(set((await session.execute(query)).scalars()))
    if not task_ids:
        return 0
    live = {
        r.task_id
        for r in await services.records.get_many(task_ids)
        if r.state in (PENDING, STARTED)
    }
    orphans = [t for t in task_ids if t not in live]
    if orphans:
        await services.transactions.run(queries.release_claims, orphans)
        log.warning("released path claims of %d ended or lost task(s)", len(orphans))
    return len(orphans)
