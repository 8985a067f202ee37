"""Failure hooks shared by the task handlers."""

from __future__ import annotations

from tufsync.tasks.contract import TaskContext
from tufsync.tasks.records import TaskRecord


class MetadataHandler:
    """Base of handlers that change metadata: a failure drops the repository's
    cached metadata, so nothing half-changed is ever reused."""

    async def on_failure(self, ctx: TaskContext, record: TaskRecord) -> None:
        ctx.tuf.repo(record.admin, record.app).files.forget_all()


class NothingToUndo:
    """Base of handlers whose failure leaves nothing to clean up."""

    async def on_failure(self, ctx: TaskContext, record: TaskRecord) -> None:
        return None
