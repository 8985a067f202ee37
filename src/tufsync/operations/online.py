"""Online update (``POST /tuf/v1/metadata/online``, and the refresh scheduler):
re-sign the online roles."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tufsync import tenant_keys
from tufsync.operations.accept import Actor, TaskParams, accept_task
from tufsync.operations.guards import require_ready
from tufsync.operations.metadata_task import MetadataHandler
from tufsync.operations.refusal import ApiError, bad_request
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import Outcome, TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.config import RepoConfig
from tufsync.tuf.repository import Repository

ONLINE_TOP_LEVEL = ("targets", "snapshot", "timestamp")


class OnlineUpdateRequest(BaseModel):
    roles: list[str] | None = Field(
        default=None, description="Default: snapshot, timestamp (+ targets when online)."
    )

    @classmethod
    def roles_of(cls, body: dict[str, Any]) -> list[str]:
        """The roles asked for ([] for the default); 400 when malformed or naming root."""
        roles = body.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise bad_request("roles must be a list of role names")
        if "root" in roles:
            raise ApiError(400, "Root role cannot be updated via this endpoint", bare=True)
        return roles


class ForceUpdateParams(TaskParams):
    roles: list[str]
    # Queued by the refresh scheduler (not an admin): its queued marker is dropped at the end.
    automatic: bool | None = None


def default_roles(config: RepoConfig) -> list[str]:
    return ["snapshot", "timestamp"] + (["targets"] if config.targets_online_key else [])


def _check_role(config: RepoConfig, role: str) -> None:
    if role == "targets" and not config.targets_online_key:
        raise ApiError(
            404,
            "Targets is an offline role - use other endpoint to update",
            "Task not accepted.",
        )
    if role not in ONLINE_TOP_LEVEL and not config.is_delegated(role):
        raise bad_request(f"Unknown role {role!r}: it is not an online role of this repository")


async def accept(
    ctx: TaskContext, actor: Actor, repo: Repository, body: dict[str, Any]
) -> TaskRecord:
    roles = OnlineUpdateRequest.roles_of(body)
    config = await require_ready(repo)
    roles = roles or default_roles(config)
    for role in roles:
        _check_role(config, role)
    params = ForceUpdateParams(roles=list(dict.fromkeys(roles)))
    return await accept_task(ctx, actor, repo.app, TaskName.FORCE_UPDATE, params)


class ForceUpdateHandler(MetadataHandler):
    """Re-sign online roles: asked for by an admin, or queued by the refresh scheduler."""

    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        repo = ctx.tuf.repo(record.admin, record.app)
        params = ForceUpdateParams.model_validate(record.params)
        try:
            async with hold_lock(ctx.state, repo.lock_name) as lock:
                change = await MetadataChange.begin(repo, lock)
                for role in params.roles:
                    if role == "snapshot":
                        change.force_snapshot = True
                    elif role != "timestamp":
                        await change.open(role)
                result = await change.commit()
        finally:
            if params.automatic:
                await ctx.state.delete(tenant_keys.refresh_queued(record.ref))
        details: dict[str, Any] = {"roles": params.roles, "versions": result.versions}
        message = "Force new online metadata update succeeded"
        if result.staged:
            # A delegated role the server cannot sign gets a renewal draft for its holders.
            details["awaiting_signatures"] = result.staged
            message += f"; renewal drafts of {sorted(result.staged)} await their key holders"
        return Outcome(message, details)
