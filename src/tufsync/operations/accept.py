"""Accepting a task: reserve what it needs, record it, queue it; undo all of it on failure.

An operation's ``accept`` opens :func:`accepting`, reserves (markers, drafts,
claims), registering how to give each reservation back, optionally writes the
audit event of the request, and submits the task. Anything that fails inside
the block, the queue included, runs the registered undo steps newest first, so
a request that is not accepted leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from tufsync.db import audit
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tasks.submit import submit_once, submit_task

Undo = Callable[[], Awaitable[object]]


class Actor(Protocol):
    """The admin a request acts for."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...


class TaskParams(BaseModel):
    """Base of the parameters a task record stores. Unknown keys of older records are
    ignored, so records written by earlier versions keep loading."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def stored(self) -> dict[str, Any]:
        """The dict written into the task record (keys not given left out)."""
        return self.model_dump(mode="json", exclude_unset=True)


@dataclass
class Acceptance:
    """One task being accepted for ``actor``'s repository ``app``."""

    ctx: TaskContext
    actor: Actor
    app: str
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _undo: list[Undo] = field(default_factory=list)

    def on_failure(self, step: Undo) -> None:
        """Run ``step`` if the task is not accepted after all."""
        self._undo.append(step)

    async def note(self, event: str, details: dict[str, Any], task_id: str | None = None) -> None:
        """Record a change the request made to the repository's trust (kept whatever
        becomes of the task)."""
        username, sessions = self.actor.username, self.ctx.sessions
        await audit.record(
            sessions,
            self.actor.id,
            self.app,
            event,
            actor=username,
            task_id=task_id,
            details=details,
        )

    async def audit(self, event: str, details: dict[str, Any]) -> None:
        """Record the request's change to the repository's trust, before its task
        records anything; withdrawn if the task is not accepted."""
        await self.note(event, details, self.task_id)
        sessions, owner = self.ctx.sessions, self.actor.id
        self.on_failure(lambda: audit.withdraw(sessions, owner, event, self.task_id))

    async def submit(self, name: TaskName, params: TaskParams) -> TaskRecord:
        """The PENDING record, then the queue (the record is removed if the queue refuses)."""
        return await submit_task(
            self.ctx, name, self.actor.username, self.app, params.stored(), task_id=self.task_id
        )

    async def submit_once(self, name: TaskName, params: TaskParams) -> TaskRecord:
        """:meth:`submit` for a task id another writer may submit too (see
        :func:`tufsync.tasks.submit.submit_once`)."""
        return await submit_once(
            self.ctx, name, self.actor.username, self.app, params.stored(), self.task_id
        )

    async def undo(self) -> None:
        for step in reversed(self._undo):
            await step()


@asynccontextmanager
async def accepting(
    ctx: TaskContext, actor: Actor, app: str, task_id: str | None = None
) -> AsyncIterator[Acceptance]:
    """The block that accepts one task; on any failure inside it, its reservations are undone."""
    acceptance = Acceptance(ctx, actor, app)
    if task_id is not None:
        acceptance.task_id = task_id
    try:
        yield acceptance
    except BaseException:
        await acceptance.undo()
        raise


async def accept_task(
    ctx: TaskContext, actor: Actor, app: str, name: TaskName, params: TaskParams
) -> TaskRecord:
    """Accept a task that reserves nothing."""
    async with accepting(ctx, actor, app) as acceptance:
        return await acceptance.submit(name, params)
