"""Settings (``PUT /tuf/v1/config``): change the expiration of online and delegated roles."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tufsync.operations.accept import Actor, TaskParams, accept_task
from tufsync.operations.guards import require_ready
from tufsync.operations.metadata_task import NothingToUndo
from tufsync.operations.refusal import bad_request
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import Outcome, TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.config import BIN_PREFIX, MAX_EXPIRATION_DAYS, RepoConfig
from tufsync.tuf.repository import Repository

CHANGEABLE_TOP_LEVEL = ("targets", "snapshot", "timestamp")


class ExpirationSettings(BaseModel):
    expiration: dict[str, int] = Field(
        description="Days per role: targets, snapshot, timestamp or a delegated role."
    )


class ConfigUpdateRequest(BaseModel):
    settings: ExpirationSettings

    @classmethod
    def expirations_of(cls, body: dict[str, Any]) -> dict[str, Any]:
        """The body's ``settings.expiration``, as sent; 400 when it is missing or empty."""
        settings = body.get("settings")
        expiration = settings.get("expiration") if isinstance(settings, dict) else None
        if not isinstance(expiration, dict) or not expiration:
            raise bad_request(
                'Invalid request: send {"settings": {"expiration": {"<role>": days}}} '
                "with at least one role."
            )
        return expiration


class SettingsParams(TaskParams):
    expiration: dict[str, int]


def _check_role(config: RepoConfig, role: str) -> None:
    if role == "root":
        raise bad_request("Root expiration cannot be changed here; rotate root instead")
    is_bins = role == BIN_PREFIX and config.hash_bins is not None
    if role not in CHANGEABLE_TOP_LEVEL and role not in config.delegated_roles and not is_bins:
        raise bad_request(f"Unknown role {role!r}: it is not a role of this repository")


def _check_days(role: str, days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRATION_DAYS:
        raise bad_request(
            f"Expiration of {role!r} must be a whole number of days from 1 to {MAX_EXPIRATION_DAYS}"
        )
    return days


async def accept(
    ctx: TaskContext, actor: Actor, repo: Repository, body: dict[str, Any]
) -> TaskRecord:
    expiration = ConfigUpdateRequest.expirations_of(body)
    config = await require_ready(repo)
    for role, days in expiration.items():
        _check_role(config, role)
        _check_days(role, days)
    params = SettingsParams(expiration=expiration)
    return await accept_task(ctx, actor, repo.app, TaskName.UPDATE_SETTINGS, params)


class UpdateSettingsHandler(NothingToUndo):
    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        repo = ctx.tuf.repo(record.admin, record.app)
        days = SettingsParams.model_validate(record.params).expiration
        async with hold_lock(ctx.state, repo.lock_name):
            config = (await repo.require_config()).with_expirations(days)
            await repo.save_config(config)
            schedule = await repo.schedule()
            if schedule is not None:
                await repo.record_expiries({}, config)
        return Outcome(
            "Update Settings Succeeded",
            {"expiration": days, "updated_roles": list(days), "invalid_roles": []},
        )
