"""Accepting a task: write its PENDING record, then hand its id to the queue."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from tufsync import tenant_keys
from tufsync.tasks.records import RECORD_TTL, TaskRecord

if TYPE_CHECKING:
    from tufsync.services import Services

RECENT_TASKS = 20
log = logging.getLogger(__name__)


async def submit_task(
    services: Services,
    name: str,
    admin: str,
    app: str,
    params: dict[str, Any],
    task_id: str | None = None,
) -> TaskRecord:
    record = await services.records.create(name, admin, app, params, task_id=task_id)
    try:
        await services.queue.submit(record.task_id)
    except BaseException:
        # Not accepted: no PENDING record may outlive the failed request.
        await services.records.delete(record.task_id)
        raise
    try:
        await remember_task(services, admin, app, record.task_id)
    except Exception:  # the task is accepted; only the status listing misses it
        log.warning(
            "could not add task %s to the recent tasks of %s/%s", record.task_id, admin, app
        )
    return record


async def recent_task_ids(services: Services, admin: str, app: str) -> list[str]:
    """The repository's latest task ids, newest first."""
    raw = await services.state.get(tenant_keys.recent_tasks(tenant_keys.TenantRef(admin, app)))
    try:
        ids = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [t for t in ids if isinstance(t, str)] if isinstance(ids, list) else []


async def remember_task(services: Services, admin: str, app: str, task_id: str) -> None:
    """Put the task first in the repository's short list of recent tasks (for ``status``).

    Read-modify-write without a lock: two tasks accepted at the same instant may
    leave one of them out of this list (never out of the task records).
    """
    ids = await recent_task_ids(services, admin, app)
    ids = [task_id, *(t for t in ids if t != task_id)][:RECENT_TASKS]
    await services.state.set(
        tenant_keys.recent_tasks(tenant_keys.TenantRef(admin, app)), json.dumps(ids), ttl=RECORD_TTL
    )
