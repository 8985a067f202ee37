"""Runs one task by id: STARTED, the handler (bounded by a timeout), SUCCESS or FAILURE."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tufsync.tasks.handlers import HANDLERS, Outcome, TaskFailed
from tufsync.tasks.records import FAILURE, STARTED, SUCCESS
from tufsync.tuf.errors import TufError

if TYPE_CHECKING:
    from tufsync.services import Services

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 600.0


async def run_task(services: Services, task_id: str) -> None:
    records = services.records
    record = await records.get(task_id)
    if record is None or record.state in (SUCCESS, FAILURE):
        return
    record.state = STARTED
    await records.save(record)
    handler = HANDLERS[record.name]
    timeout = float(record.params.get("timeout") or DEFAULT_TIMEOUT)
    try:
        outcome: Outcome = await asyncio.wait_for(handler.run(services, record), timeout)
    except (TaskFailed, TufError) as exc:
        await handler.on_failure(services, record)
        await records.finish(record, ok=False, error=str(exc))
    except TimeoutError:
        await handler.on_failure(services, record)
        await records.finish(
            record, ok=False, error=f"task timed out after {timeout:g} seconds; nothing was changed"
        )
    except Exception as exc:
        log.exception("task %s (%s) failed", task_id, record.name)
        await handler.on_failure(services, record)
        await records.finish(record, ok=False, error=f"internal error: {type(exc).__name__}: {exc}")
    else:
        await records.finish(record, ok=True, message=outcome.message, details=outcome.details)
