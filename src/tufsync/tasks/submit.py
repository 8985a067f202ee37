"""Accepting a task: write its PENDING record, then hand its id to the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tufsync.tasks.records import TaskRecord

if TYPE_CHECKING:
    from tufsync.services import Services


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
    return record
