"""The renewal of an offline role before it expires, queued by the scheduler's
expiry pass (:mod:`tufsync.tasks.expiry_watch`): stage its renewal draft for the
key holders under the repository lock (:mod:`tufsync.tuf.renewal`)."""

from __future__ import annotations

from datetime import timedelta

from tufsync import tenant_keys
from tufsync.operations.accept import TaskParams
from tufsync.operations.metadata_task import MetadataHandler
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import Outcome, TaskContext
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.renewal import renew_offline


class RenewOfflineParams(TaskParams):
    role: str


class RenewOfflineHandler(MetadataHandler):
    """Stage the renewal draft of one offline role (nothing when one is pending)."""

    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        repo = ctx.tuf.repo(record.admin, record.app)
        role = RenewOfflineParams.model_validate(record.params).role
        horizon = timedelta(days=ctx.settings.renewal_days)
        async with hold_lock(ctx.state, repo.lock_name) as lock:
            renewal = await renew_offline(repo, lock, role, horizon)
        details: dict[str, object] = {"role": role}
        if renewal.staged is not None:
            details["awaiting_signatures"] = {role: renewal.staged}
        return Outcome(renewal.message, details)

    async def on_failure(self, ctx: TaskContext, record: TaskRecord) -> None:
        """Forget cached metadata, and let the next expiry pass queue the renewal again."""
        await super().on_failure(ctx, record)
        role = RenewOfflineParams.model_validate(record.params).role
        await ctx.state.delete(tenant_keys.renewal_queued(record.ref, role))
