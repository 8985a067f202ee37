"""Bootstrap: the request (``POST /tuf/v1/bootstrap``), its acceptance and its task.

The request sets the marker ``pre-<task>``; the task publishes version 1 and
sets the marker to ``<task>`` last. Run again after a crash, it finds the
marker completed (nothing to redo) or starts over.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tufsync import tenant_keys
from tufsync.operations.accept import Acceptance, Actor, TaskParams, accepting
from tufsync.operations.refusal import ApiError, bad_request
from tufsync.operations.request_models import Loose
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import Outcome, TaskContext, TaskFailed
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.bootstrap import (
    BootstrapPlan,
    discard_bootstrap,
    run_bootstrap,
    validate_bootstrap_async,
)
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.repository import Repository

TUF_METADATA = dict[str, Any]


class RoleExpiration(Loose):
    expiration: int = Field(description="Days, 1..3650.")


class TargetsRoleSettings(RoleExpiration):
    online_key: bool = Field(default=True, description="Whether the server holds the targets key.")


class DelegatedRoleSpec(Loose):
    name: str
    terminating: bool = False
    keyids: list[str]
    threshold: int
    paths: list[str] = Field(description="TUF path patterns (any well-formed pattern).")
    expiration: int | None = Field(default=None, description="Days, 1..3650.")


class DelegationsSpec(Loose):
    keys: dict[str, dict[str, Any]]
    roles: list[DelegatedRoleSpec]


class BootstrapRoles(Loose):
    root: RoleExpiration
    timestamp: RoleExpiration
    snapshot: RoleExpiration
    targets: TargetsRoleSettings
    delegations: DelegationsSpec | None = None


class BootstrapSettings(Loose):
    roles: BootstrapRoles


class BootstrapMetadata(Loose):
    root: TUF_METADATA = Field(description="Root v1: {'signed': ..., 'signatures': [...]}.")
    targets: TUF_METADATA | None = Field(
        default=None, description="Targets v1, signed offline (when targets is offline)."
    )


class BootstrapRequest(Loose):
    # The body's shape; validate_bootstrap / stage_delegated_rotation check it in full.
    appName: str
    settings: BootstrapSettings
    metadata: BootstrapMetadata
    timeout: float | None = Field(default=None, description="Seconds, 1..3600 (default 300).")


class BootstrapConflictData(BaseModel):
    """The ``data`` of a 409: the bootstrap that is done or running."""

    admin: str
    app: str
    status: Literal["completed", "in_progress"]
    task_id: str


class BootstrapParams(TaskParams):
    payload: dict[str, Any]
    timeout: float | None = None


def marker_task(marker: str | None) -> str:
    """The task id a bootstrap marker names ('' when there is none)."""
    if not marker:
        return ""
    return marker.split("-", 1)[1] if marker.startswith(("pre-", "signing-")) else marker


def _conflict(
    actor: Actor, app: str, status: Literal["completed", "in_progress"], task_id: str
) -> ApiError:
    error = (
        "Bootstrap already completed for this admin and app"
        if status == "completed"
        else "Bootstrap already in progress for this admin and app"
    )
    data = BootstrapConflictData(admin=actor.username, app=app, status=status, task_id=task_id)
    return ApiError(409, error, data=data.model_dump())


async def _plan(ctx: TaskContext, actor: Actor, app: str, payload: dict[str, Any]) -> BootstrapPlan:
    """Shape and types first: a malformed payload is a 400 even for a bootstrapped app."""
    try:
        return await validate_bootstrap_async(
            actor.username, app, payload, ctx.tuf.keys, ctx.tuf.clock()
        )
    except TufInputError as exc:
        raise bad_request(str(exc)) from None


async def _refuse_started(actor: Actor, repo: Repository) -> None:
    marker = await repo.bootstrap_marker()
    if await repo.is_bootstrapped():
        raise _conflict(actor, repo.app, "completed", marker_task(marker))
    if marker and marker.startswith("pre-"):
        raise _conflict(actor, repo.app, "in_progress", marker_task(marker))


async def _reserve_marker(ctx: TaskContext, acceptance: Acceptance, repo: Repository) -> None:
    """Set the marker ``pre-<task>``; 409 when another request set one first."""
    key, value = tenant_keys.bootstrap(repo.ref), f"pre-{acceptance.task_id}"
    if not await ctx.state.set_if_absent(key, value):
        current = await ctx.state.get(key)
        running = bool(current and current.startswith("pre-"))
        status: Literal["completed", "in_progress"] = "in_progress" if running else "completed"
        raise _conflict(acceptance.actor, repo.app, status, marker_task(current))
    acceptance.on_failure(lambda: ctx.state.delete_if_equals(key, value))


async def accept(
    ctx: TaskContext, actor: Actor, repo: Repository, payload: dict[str, Any]
) -> TaskRecord:
    plan = await _plan(ctx, actor, repo.app, payload)
    await _refuse_started(actor, repo)
    async with accepting(ctx, actor, repo.app) as acceptance:
        await _reserve_marker(ctx, acceptance, repo)
        params = BootstrapParams(payload=payload, timeout=plan.timeout)
        return await acceptance.submit(TaskName.BOOTSTRAP, params)


class BootstrapHandler:
    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        params = BootstrapParams.model_validate(record.params)
        engine = ctx.tuf
        repo = engine.repo(record.admin, record.app)
        async with hold_lock(ctx.state, repo.lock_name) as lock:
            marker = await repo.bootstrap_marker()
            if marker == record.task_id:
                return Outcome("Bootstrap completed successfully", {"versions": {"root": 1}})
            if marker != f"pre-{record.task_id}":
                raise TaskFailed("the bootstrap was cancelled: its marker is gone")
            plan = await validate_bootstrap_async(
                record.admin, record.app, params.payload, engine.keys, engine.clock()
            )
            await lock.ensure_held()
            versions = await run_bootstrap(repo, plan, record.task_id)
        return Outcome("Bootstrap completed successfully", {"versions": versions})

    async def on_failure(self, ctx: TaskContext, record: TaskRecord) -> None:
        repo = ctx.tuf.repo(record.admin, record.app)
        await discard_bootstrap(repo, f"pre-{record.task_id}")
