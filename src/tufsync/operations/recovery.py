"""Recovery (``POST /tuf/v1/bootstrap/recovery``): rebuild a repository's state-store
entries from the object store. The request holds the recovery key while its task runs."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tufsync import tenant_keys
from tufsync.operations.accept import Acceptance, Actor, TaskParams, accepting
from tufsync.operations.refusal import ApiError, bad_request
from tufsync.operations.request_models import Loose
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import Outcome, TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.recovery import RecoveryNeed, recover, recovery_need
from tufsync.tuf.repository import Repository
from tufsync.tuf.validation import task_timeout

RECOVERY_TIMEOUT = 300.0
RECOVERY_CONFLICTS = {
    RecoveryNeed.NOT_REQUIRED: (
        "Recovery not required: Redis state is already complete and consistent"
    ),
    RecoveryNeed.NO_ROOT: (
        "No persisted root metadata found. Bootstrap must be completed before recovery."
    ),
    RecoveryNeed.BOOTSTRAP_RUNNING: "Bootstrap in progress for this admin and app",
}

# faynoSync's exact bodies (no message), which its clients compare.
FAYNOSYNC_BARE = frozenset({RecoveryNeed.NOT_REQUIRED, RecoveryNeed.BOOTSTRAP_RUNNING})


class RecoveryRequest(Loose):
    appName: str
    timeout: float | None = Field(default=None, description="Seconds, 1..3600 (default 300).")


class RecoveryParams(TaskParams):
    timeout: float | None = None


async def _reserve(ctx: TaskContext, acceptance: Acceptance, repo: Repository, ttl: float) -> None:
    key, task_id = tenant_keys.recovery(repo.ref), acceptance.task_id
    if not await ctx.state.set_if_absent(key, task_id, ttl=ttl):
        raise ApiError(409, "Recovery already in progress for this admin and app", bare=True)
    acceptance.on_failure(lambda: ctx.state.delete_if_equals(key, task_id))


async def accept(
    ctx: TaskContext, actor: Actor, repo: Repository, body: dict[str, Any]
) -> TaskRecord:
    try:
        timeout = task_timeout(body.get("timeout"), RECOVERY_TIMEOUT)
    except TufInputError as exc:
        raise bad_request(str(exc)) from None
    need = await recovery_need(repo)
    if need in RECOVERY_CONFLICTS:
        raise ApiError(409, RECOVERY_CONFLICTS[need], bare=need in FAYNOSYNC_BARE)
    async with accepting(ctx, actor, repo.app) as acceptance:
        await _reserve(ctx, acceptance, repo, float(timeout) + 60)
        return await acceptance.submit(TaskName.RECOVERY, RecoveryParams(timeout=timeout))


class RecoveryHandler:
    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        repo = ctx.tuf.repo(record.admin, record.app)
        try:
            async with hold_lock(ctx.state, repo.lock_name):
                config = await recover(repo, record.task_id)
        finally:
            await ctx.state.delete_if_equals(tenant_keys.recovery(record.ref), record.task_id)
        return Outcome("Bootstrap state recovered", {"bootstrap": config.bootstrap})

    async def on_failure(self, ctx: TaskContext, record: TaskRecord) -> None:
        await ctx.state.delete_if_equals(tenant_keys.recovery(record.ref), record.task_id)
