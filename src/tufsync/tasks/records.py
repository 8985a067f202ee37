"""Task records (PENDING → STARTED → SUCCESS | FAILURE) kept in the state store,
and the sentences a failed task's record gives as its ``error``."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tufsync import tenant_keys
from tufsync.observability.logs import log_internal_error
from tufsync.state import StateStore
from tufsync.state.locks import LockTimeout
from tufsync.tasks.kinds import TaskName

log = logging.getLogger(__name__)
PENDING, STARTED, SUCCESS, FAILURE = "PENDING", "STARTED", "SUCCESS", "FAILURE"
RECORD_TTL = 30 * 24 * 3600.0
# A record larger than this (a bootstrap's payload of thousands of roles) is parsed in
# a worker thread: GET /tuf/v1/task reads it on every poll.
BIG_RECORD_CHARS = 64 * 1024
# How the failure sentences below begin (the task log line tells them apart).
TIMEOUT_PREFIX = "task timed out"
INTERNAL_PREFIX = "internal error"

TASK_NAMES = frozenset(str(name) for name in TaskName)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def timeout_error(exc: TimeoutError, deadline: float) -> str:
    """The error of a task that ran out of time: past its own deadline (``deadline``
    seconds), or tired of waiting for a lock another piece of work held."""
    if isinstance(exc, LockTimeout):
        return (
            f"{TIMEOUT_PREFIX} waiting for {exc.lock_kind}: other work held it for all of "
            f"{exc.waited:g} seconds; nothing was changed"
        )
    return f"{TIMEOUT_PREFIX} after {deadline:g} seconds; nothing was changed"


def internal_error(logger: logging.Logger, record: TaskRecord, exc: BaseException) -> str:
    """Log an unexpected exception of a task under a new error id; return the record's
    error sentence, which names the id but not the exception (whose text can hold
    SQL statements, paths or connection details)."""
    error_id = log_internal_error(
        logger, f"task {record.task_id} ({record.name}) failed", exc, task_id=record.task_id
    )
    return (
        f"{INTERNAL_PREFIX} (error id {error_id}): the task stopped before it finished; "
        "the server's log has the details under this id"
    )


@dataclass
class TaskRecord:
    task_id: str
    name: str
    admin: str
    app: str
    params: dict[str, Any]
    state: str = PENDING
    result: dict[str, Any] | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    @property
    def ref(self) -> tenant_keys.TenantRef:
        """The repository the task works on."""
        return tenant_keys.TenantRef(self.admin, self.app)

    @classmethod
    def from_json(cls, raw: str) -> TaskRecord:
        """Parse a stored record; ValueError (or TypeError) when it is not one."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("a task record is a JSON object")
        record = cls(**data)
        if record.state not in (PENDING, STARTED, SUCCESS, FAILURE):
            raise ValueError(f"unknown task state {record.state!r}")
        if not isinstance(record.params, dict):
            raise ValueError("task params must be a JSON object")
        tenant_keys.TenantRef(record.admin, record.app)  # raises InvalidName
        return record

    def to_json(self) -> str:
        """The stored form (what :meth:`from_json` reads): one JSON object.

        Built field by field: ``dataclasses.asdict`` deep-copies ``params`` and
        ``result`` first, which costs more than encoding them.
        """
        return json.dumps(
            {
                "task_id": self.task_id,
                "name": self.name,
                "admin": self.admin,
                "app": self.app,
                "params": self.params,
                "state": self.state,
                "result": self.result,
                "created_at": self.created_at,
                "updated_at": self.updated_at,
            }
        )

    def public_view(self) -> dict[str, Any]:
        """The ``data`` of GET /tuf/v1/task."""
        result = self.result or {"task": self.name, "status": False, "last_update": self.updated_at}
        return {"task_id": self.task_id, "state": self.state, "result": result}


def _readable(task_id: str, raw: str) -> TaskRecord | None:
    """The record of ``task_id`` stored as ``raw``, or None (logged) when unreadable."""
    try:
        record = TaskRecord.from_json(raw)
        if record.task_id != task_id:
            raise ValueError(f"record names task {record.task_id!r}")
    except (ValueError, TypeError) as exc:
        log.warning("skipping unreadable task record of %r: %s", task_id, exc)
        return None
    return record


class TaskRecords:
    def __init__(self, state: StateStore) -> None:
        self.state = state

    async def create(
        self, name: str, admin: str, app: str, params: dict[str, Any], task_id: str | None = None
    ) -> TaskRecord:
        assert name in TASK_NAMES, name
        record = TaskRecord(task_id or str(uuid.uuid4()), name, admin, app, params)
        await self.save(record)
        return record

    async def create_once(
        self, name: str, admin: str, app: str, params: dict[str, Any], task_id: str
    ) -> tuple[TaskRecord, bool]:
        """The PENDING record of ``task_id`` unless one exists; return the record as
        stored and whether this call wrote it (two writers agreeing on an id, e.g. a
        request and the sweep that finishes its work after a crash, make one task)."""
        assert name in TASK_NAMES, name
        record = TaskRecord(task_id, name, admin, app, params)
        key = tenant_keys.task(task_id)
        for _ in range(2):
            if await self.state.set_if_absent(key, record.to_json(), ttl=RECORD_TTL):
                return record, True
            found = await self.get(task_id)
            if found is not None:
                return found, False
        await self.save(record)  # an unreadable entry held the id: replaced
        return record, True

    async def wait_finished(self, task_id: str, seconds: float) -> TaskRecord | None:
        """Poll the record until it is SUCCESS or FAILURE, at most ``seconds``; return it
        as last read (None when missing). Cheap: one state-store read per poll, the
        polls spaced from 20 ms up to half a second."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        delay = 0.02
        while True:
            record = await self.get(task_id)
            if record is None or record.state in (SUCCESS, FAILURE):
                return record
            left = deadline - loop.time()
            if left <= 0:
                return record
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 1.5, 0.5)

    async def save(self, record: TaskRecord) -> None:
        record.updated_at = now_iso()
        await self.state.set(tenant_keys.task(record.task_id), record.to_json(), ttl=RECORD_TTL)

    async def get(self, task_id: str) -> TaskRecord | None:
        raw = await self.state.get(tenant_keys.task(task_id))
        if raw is not None and len(raw) > BIG_RECORD_CHARS:
            return await asyncio.to_thread(_readable, task_id, raw)
        return None if raw is None else _readable(task_id, raw)

    async def start(self, task_id: str) -> TaskRecord | None:
        """Mark the task STARTED unless it is finished; return the record as stored
        after (STARTED, or as another task's batch finished it), None when missing.

        The change is a compare-and-set on the stored record: a batch that
        finishes the task between the read and the write is never overwritten.
        """
        key = tenant_keys.task(task_id)
        while True:
            raw = await self.state.get(key)
            record = None if raw is None else _readable(task_id, raw)
            if raw is None or record is None or record.state in (SUCCESS, FAILURE):
                return record
            record.state = STARTED
            record.updated_at = now_iso()
            if await self.state.replace_if_equals(key, raw, record.to_json(), ttl=RECORD_TTL):
                return record

    async def get_many(self, task_ids: list[str]) -> list[TaskRecord]:
        """The records that exist among ``task_ids`` (one round trip)."""
        raw = await self.state.get_many([tenant_keys.task(t) for t in task_ids])
        found = (_readable(tenant_keys.parse_task(k), v) for k, v in raw.items())
        return [r for r in found if r is not None]

    async def delete(self, task_id: str) -> None:
        await self.state.delete(tenant_keys.task(task_id))

    async def unfinished(self) -> list[TaskRecord]:
        """Every PENDING or STARTED record (used to resume after a restart).

        An entry that is not a readable task record is skipped and logged, so
        no stored value can keep the service from starting.
        """
        keys = await self.state.keys(tenant_keys.TASK_PREFIX)
        raw = await self.state.get_many(keys)
        records: list[TaskRecord] = []
        for key, value in sorted(raw.items()):
            try:
                task_id = tenant_keys.parse_task(key)
            except ValueError as exc:
                log.warning("skipping unreadable task record %r: %s", key, exc)
                continue
            record = _readable(task_id, value)
            if record is not None:
                records.append(record)
        return [r for r in records if r.state in (PENDING, STARTED)]

    async def finish(
        self,
        record: TaskRecord,
        *,
        ok: bool,
        message: str | None = None,
        error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        record.state = SUCCESS if ok else FAILURE
        result: dict[str, Any] = {"task": record.name, "status": ok, "last_update": now_iso()}
        if message:
            result["message"] = message
        if error:
            result["error"] = error
        if details:
            result["details"] = details
        record.result = result
        await self.save(record)
