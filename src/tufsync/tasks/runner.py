"""Runs one task by id: STARTED, the handler (bounded by a deadline), SUCCESS or FAILURE.

A task runs under a lease naming its owner process instance. A second
delivery of a task that a live instance is running waits for it to end and
then finds it finished; a lease whose owner died is taken over at once (see
:mod:`tufsync.state.instances`), so a restarted process or a redelivered
message resumes the task instead of dropping it.

The deadline cancels a task only while it has not started writing: once a
handler enters a write section (:mod:`tufsync.writes`) it runs to its end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from tufsync import tenant_keys, testhooks
from tufsync.audit_events import BATCHED_TASKS, task_event
from tufsync.db import audit
from tufsync.observability.logs import log_task
from tufsync.observability.metrics import observe_task
from tufsync.state.locks import LockTimeout, hold_lock
from tufsync.storage.diskspace import OUT_OF_SPACE_SENTENCE, is_out_of_space
from tufsync.tasks.contract import (
    AlreadyFinished,
    Outcome,
    RunnerContext,
    TaskFailed,
)
from tufsync.tasks.records import (
    FAILURE,
    INTERNAL_PREFIX,
    STARTED,
    SUCCESS,
    TIMEOUT_PREFIX,
    TaskRecord,
    internal_error,
    timeout_error,
)
from tufsync.tuf.errors import TufError
from tufsync.writes import WriteGuard, guarding

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 600.0
LEASE_POLL = 0.5


async def run_task(services: RunnerContext, task_id: str) -> None:
    """Run a task unless it is finished; wait while another live instance runs it."""
    lease_ttl = services.settings.task_redelivery_seconds
    record = await services.records.get(task_id)
    if record is None or record.state in (SUCCESS, FAILURE):
        return
    patience = _timeout(record.params) + 4 * lease_ttl
    try:
        async with hold_lock(
            services.state,
            tenant_keys.task_lease(task_id),
            ttl=lease_ttl,
            wait=patience,
            poll_max=LEASE_POLL,
        ):
            await _observed(services, task_id)
    except LockTimeout:
        log.warning("task %s: its live runner did not finish within %gs", task_id, patience)


def _timeout(params: dict[str, Any]) -> float:
    try:
        value = float(params.get("timeout") or DEFAULT_TIMEOUT)
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT
    return value if 0 < value < float("inf") else DEFAULT_TIMEOUT


async def _observed(services: RunnerContext, task_id: str) -> None:
    """Run the task, then write its log line and count it (once per task: a task
    another task's batch finished counts when its own delivery finds it done).

    The record is read again here, under the lease: another runner may have
    finished the task while this one waited for the lease.
    """
    record = await services.records.get(task_id)
    if record is None or record.state in (SUCCESS, FAILURE):
        return
    name, admin, app = record.name, record.admin, record.app
    started = time.perf_counter()
    after: TaskRecord | None = None
    try:
        after = await _run_leased(services, record)
    finally:
        seconds = time.perf_counter() - started
        if after is None:  # interrupted: what is stored says how it ended, if it did
            after = await services.records.get(task_id)
        outcome, error = outcome_of(after)
        observe_task(name, outcome, seconds)
        log_task(name, admin, app, task_id, outcome, seconds, error)


def outcome_of(record: TaskRecord | None) -> tuple[str, str | None]:
    """``success``, ``failure``, ``timeout``, ``error`` (internal) or ``unfinished``."""
    if record is None or record.state not in (SUCCESS, FAILURE):
        return "unfinished", None
    if record.state == SUCCESS:
        return "success", None
    error = str((record.result or {}).get("error") or "")
    if error.startswith(TIMEOUT_PREFIX):
        return "timeout", error
    if error.startswith(INTERNAL_PREFIX):
        return "error", error
    return "failure", error


async def _run_leased(services: RunnerContext, record: TaskRecord) -> TaskRecord | None:
    """STARTED, the handler, then SUCCESS or FAILURE; return the finished record."""
    records = services.records
    started = await records.start(record.task_id)
    if started is None or started.state != STARTED:
        return started  # finished meanwhile by another task's batch: left as written
    record = started
    handler = services.handlers[record.name]  # the table the service was started with
    timeout = _timeout(record.params)
    testhooks.current_task_name.set(record.name)
    await testhooks.pause("started")
    try:
        outcome = await _within_deadline(handler.run(services, record), timeout)
    except AlreadyFinished:
        return await records.get(record.task_id)  # as the batch that finished it wrote it
    except (TaskFailed, TufError) as exc:
        await handler.on_failure(services, record)
        await records.finish(record, ok=False, error=str(exc))
    except TimeoutError as exc:
        await handler.on_failure(services, record)
        await records.finish(record, ok=False, error=timeout_error(exc, timeout))
    except Exception as exc:
        if is_out_of_space(exc):  # a plain sentence, not a driver's error text
            log.error("task %s (%s) failed: storage is full: %s", record.task_id, record.name, exc)
            error = OUT_OF_SPACE_SENTENCE
        else:
            error = internal_error(log, record, exc)
        await handler.on_failure(services, record)
        await records.finish(record, ok=False, error=error)
    else:
        if record.name not in BATCHED_TASKS:
            await record_audit(services, record, outcome)
        await records.finish(record, ok=True, message=outcome.message, details=outcome.details)
    return record


async def record_audit(services: RunnerContext, record: TaskRecord, outcome: Outcome) -> None:
    """Write the audit event of a successful task before its record says SUCCESS."""
    event = task_event(record, outcome.details)
    if event is not None:
        kind, details = event
        await audit.record(
            services.sessions,
            record.admin,
            record.app,
            kind,
            task_id=record.task_id,
            details=details,
        )


async def _within_deadline(run: Coroutine[Any, Any, Outcome], seconds: float) -> Outcome:
    """Run a handler; past ``seconds`` cancel it, unless it is already writing.

    Raises TimeoutError when the handler was cancelled before it wrote anything.
    """
    guard = WriteGuard()
    with guarding(guard):
        task = asyncio.ensure_future(run)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if not done:
            if guard.writing:
                log.warning("task past its deadline is writing; letting it finish")
                return await task
            task.cancel()
            try:
                return await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the runner itself is being cancelled (shutdown)
                raise TimeoutError from None
        return task.result()
    finally:
        if not task.done():
            task.cancel()
