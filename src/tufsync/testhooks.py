"""Test-only pauses at named points of a task, to kill the process at a known moment.

``TUFSYNC_TEST_PAUSE`` holds ``<task name>:<step>=<seconds>`` pairs separated
by commas, e.g. ``bootstrap:writing=30``. Unset (always, outside tests) every
pause is a no-op. The task runner names the running task; the step
``writing`` sits inside each task's write section, after its first write;
``published`` follows a publish or removal's metadata change, before the
registry records it.
Request code outside a task names its own point (``task=``), e.g.
``registry_delete:committed`` (a deletion committed, its removal not yet queued) or
``sign_request:threshold_met`` (a signature that meets its draft's threshold is
stored, its finalize task not yet accepted).
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextvars import ContextVar

log = logging.getLogger(__name__)
ENV = "TUFSYNC_TEST_PAUSE"
current_task_name: ContextVar[str] = ContextVar("tufsync_task_name", default="")


def _pauses() -> dict[str, float]:
    raw = os.environ.get(ENV, "")
    pauses: dict[str, float] = {}
    for item in raw.split(","):
        point, sep, seconds = item.strip().partition("=")
        if sep:
            try:
                pauses[point] = min(max(float(seconds), 0.0), 600.0)
            except ValueError:
                continue
    return pauses


async def pause(step: str, task: str | None = None) -> None:
    """Sleep at ``<task>:<step>`` (default: the running task) when the test
    environment asks for it."""
    if ENV not in os.environ:
        return
    point = f"{task if task is not None else current_task_name.get()}:{step}"
    seconds = _pauses().get(point)
    if seconds:
        log.warning("test pause at %s for %gs", point, seconds)
        await asyncio.sleep(seconds)
