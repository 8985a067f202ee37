"""Accepting a task: write its PENDING record, then hand its id to the queue.

The repository's short list of recent task ids (shown by ``status``) is updated
after the task is accepted. Requests of one process that update the same list
at the same time share one read-modify-write of it (see :class:`_RecentList`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from tufsync import tenant_keys
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.records import RECORD_TTL, TaskRecord

RECENT_TASKS = 20
log = logging.getLogger(__name__)


async def submit_task(
    services: TaskContext,
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
    await _listed_as_recent(services, admin, app, record.task_id)
    return record


async def _listed_as_recent(services: TaskContext, admin: str, app: str, task_id: str) -> None:
    """Add an accepted task to the repository's recent tasks; a failure only costs the
    status listing, never the task."""
    try:
        await remember_task(services, admin, app, task_id)
    except Exception:
        log.warning("could not add task %s to the recent tasks of %s/%s", task_id, admin, app)


async def submit_once(
    services: TaskContext, name: str, admin: str, app: str, params: dict[str, Any], task_id: str
) -> TaskRecord:
    """:func:`submit_task` for a task id more than one writer may submit: the record is
    written only if absent, and queued in any case (a second message for a task is
    harmless, see :mod:`tufsync.tasks.runner`)."""
    record, created = await services.records.create_once(name, admin, app, params, task_id)
    try:
        await services.queue.submit(record.task_id)
    except BaseException:
        if created:
            await services.records.delete(record.task_id)
        raise
    if created:
        await _listed_as_recent(services, admin, app, record.task_id)
    return record


async def queue_created(services: TaskContext, record: TaskRecord) -> None:
    """Hand an already written PENDING record to the queue and list it as recent.

    For a task whose record had to exist before the caller's registry commit (a
    deletion's removal task, see :func:`tufsync.registry.service.delete_artifacts`):
    when the queue refuses it the record stays PENDING (the work it stands for is
    committed), and the restart or the stale-task pass queues it again.
    """
    try:
        await services.queue.submit(record.task_id)
    except Exception:
        log.warning("task %s is recorded but not queued; the stale-task pass will", record.task_id)
    await _listed_as_recent(services, record.admin, record.app, record.task_id)


async def recent_task_ids(services: TaskContext, admin: str, app: str) -> list[str]:
    """The repository's latest task ids, newest first."""
    return _parse_ids(
        await services.state.get(tenant_keys.recent_tasks(tenant_keys.TenantRef(admin, app)))
    )


def _parse_ids(raw: str | None) -> list[str]:
    """The ids of a stored recent-task list; [] when missing or unreadable."""
    try:
        ids = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [t for t in ids if isinstance(t, str)] if isinstance(ids, list) else []


@dataclass
class _RecentList:
    """The ids waiting to be put first in one repository's recent-task list.

    Holds no copy of the list itself (the state store is the only copy, shared
    by every process), so nothing here can go stale: it only merges writes.
    """

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: list[str] = field(default_factory=list)
    users: int = 0


_lists: dict[tuple[int, str], _RecentList] = {}


async def remember_task(services: TaskContext, admin: str, app: str, task_id: str) -> None:
    """Put the task first in the repository's short list of recent tasks (for ``status``).

    The caller waits until its id is written. Callers of this process that
    arrive while the list is being written queue their ids, and the first of
    them to get the turn writes them all in one read-modify-write. Across
    processes (scale-out) there is no lock: two tasks accepted at the same
    instant may leave one of them out of this list (never out of the task records).
    """
    key = tenant_keys.recent_tasks(tenant_keys.TenantRef(admin, app))
    slot = (id(services.state), key)
    entry = _lists.setdefault(slot, _RecentList())
    entry.waiting.append(task_id)
    entry.users += 1
    try:
        async with entry.lock:
            if task_id not in entry.waiting:
                return  # an earlier caller wrote it with its own
            ids, entry.waiting = entry.waiting, []
            await _put_first(services, key, ids)
    finally:
        entry.users -= 1
        if entry.users == 0:
            del _lists[slot]


async def _put_first(services: TaskContext, key: str, new_ids: list[str]) -> None:
    """Read the list at ``key``, put ``new_ids`` first (newest first), write it back."""
    raw = await services.state.get(key)
    ids = _parse_ids(raw)
    fresh = list(reversed(new_ids))
    ids = [*fresh, *(t for t in ids if t not in fresh)][:RECENT_TASKS]
    await services.state.set(key, json.dumps(ids), ttl=RECORD_TTL)
