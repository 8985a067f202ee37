"""Queueing again tasks whose message was lost.

A request writes a task's PENDING record, then hands its id to the queue; a
process killed in between leaves a record no message points to. Every
refresh pass looks for unfinished records not updated for ``min_age``
seconds whose lease nobody holds, and queues them again. A second message
for a task is harmless: the runner waits for a live holder of the lease and
skips tasks that are already finished.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tufsync import tenant_keys
from tufsync.tasks.contract import TaskContext

log = logging.getLogger(__name__)


async def requeue_stale(services: TaskContext, min_age: float) -> list[str]:
    """Queue again every unfinished, unleased task older than ``min_age``; return their ids."""
    now = datetime.now(UTC)
    requeued: list[str] = []
    for record in await services.records.unfinished():
        try:
            age = (now - datetime.fromisoformat(record.updated_at)).total_seconds()
        except ValueError:
            age = min_age
        if age < min_age:
            continue
        if await services.state.lock_holder(tenant_keys.task_lease(record.task_id)) is not None:
            continue
        log.warning("task %s (%s) has no runner; queueing it again", record.task_id, record.name)
        await services.queue.submit(record.task_id)
        requeued.append(record.task_id)
    return requeued
