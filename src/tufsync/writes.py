"""Write sections: steps that change stored state are never cancelled half-way.

A task's deadline (or a shutdown) cancels it only between steps. Code that
writes several objects that must land together runs them through
:func:`write_section`: a cancellation arriving meanwhile waits until the
section has finished, then is raised. The section also marks the running
task's :class:`WriteGuard`, which tells the task runner that the task has
started changing things and must be let finish rather than cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass
class WriteGuard:
    """Set once the task owning it has entered a write section (and stays set)."""

    writing: bool = False


_current: ContextVar[WriteGuard | None] = ContextVar("tufsync_write_guard", default=None)


@contextmanager
def guarding(guard: WriteGuard) -> Iterator[WriteGuard]:
    """Make ``guard`` the current guard (tasks created inside inherit it)."""
    token = _current.set(guard)
    try:
        yield guard
    finally:
        _current.reset(token)


async def write_section(step: Awaitable[T]) -> T:
    """Run ``step`` to its end even if the caller is cancelled meanwhile.

    The cancellation is raised after the step finished (its own error, if it
    failed, wins). The step runs as its own task, so nothing cancels it.
    """
    guard = _current.get()
    if guard is not None:
        guard.writing = True
    inner = asyncio.ensure_future(step)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(inner)
            break
        except asyncio.CancelledError:
            if inner.done() and inner.cancelled():
                raise
            if inner.done():
                inner.result()  # its own error wins
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError()
    return result
