"""What a task handler is, what it returns, and the parts of the service it may use.

Handlers (in :mod:`tufsync.operations`) and the runner meet here: the runner is
given a table of handlers at start and knows nothing of the operations, and
neither knows the whole :class:`tufsync.services.Services`, only
:class:`TaskContext`, the narrow view of it defined here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tufsync.db.transactions import Transactions
from tufsync.settings import Settings
from tufsync.state import StateStore
from tufsync.storage import ObjectStore
from tufsync.tasks.records import TaskRecord, TaskRecords
from tufsync.tuf.repository import Engine


class TaskQueueLike(Protocol):
    """The queue as operations see it: it takes the id of a recorded task."""

    async def submit(self, task_id: str) -> None: ...


class TaskContext(Protocol):
    """The parts of the running service that operations and task handlers use."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    # One-query reads outside a transaction (see tufsync.db).
    reads: async_sessionmaker[AsyncSession]
    transactions: Transactions
    state: StateStore
    storage: ObjectStore
    tuf: Engine
    records: TaskRecords

    @property
    def queue(self) -> TaskQueueLike: ...


class TaskFailed(Exception):
    """A task ended without doing its work; the message says why."""


class AlreadyFinished(Exception):
    """Another task's batch already finished this task; its record stays as written."""


@dataclass
class Outcome:
    message: str
    details: dict[str, Any] = field(default_factory=dict)


class Handler(Protocol):
    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome: ...

    async def on_failure(self, ctx: TaskContext, record: TaskRecord) -> None: ...


HandlerTable = Mapping[str, Handler]


class RunnerContext(TaskContext, Protocol):
    """What the runner needs: the context, and the handler table it was started with."""

    @property
    def handlers(self) -> HandlerTable: ...
