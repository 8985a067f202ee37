"""Publishing artifacts into TUF (``POST /tuf/v1/artifacts/publish``) and removing them
from it (``POST /tuf/v1/artifacts/delete``): the requests and their acceptance.

Each request claims the target paths its task will touch (under the admin's
registry lock), so no upload or deletion races the queued task; the claims are
dropped again if the task is not accepted. A publish reads the registry once,
under that lock, in one query (version rows, unsigned artifacts, claims) and
claims its paths in one statement of the same transaction. The task is
:class:`tufsync.operations.targets_batch.TargetsBatchHandler`.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field, field_validator

from tufsync import tenant_keys
from tufsync.db import queries
from tufsync.db.transactions import run_in_session
from tufsync.jsonsafe import JsonProblem, parse_json
from tufsync.operations.accept import Acceptance, Actor, TaskParams, accepting
from tufsync.operations.guards import require_bootstrapped
from tufsync.operations.refusal import ApiError, bad_request
from tufsync.registry.publish import PublishSelection, claim_publish
from tufsync.registry.service import owned_version, pick_artifacts, refuse_claimed
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.targets import TargetSpec


class PublishRequest(BaseModel):
    app_id: str = Field(description="The application id (a version id is accepted too).")
    version: str


class DeleteArtifactsRequest(BaseModel):
    id: str = Field(description="The version id.")
    app_name: str
    version: str
    artifacts_to_delete: list[str] = Field(description="Artifact indices, as strings.")

    @field_validator("artifacts_to_delete", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        """faynoSync's form field holds a JSON list, or one index."""
        if isinstance(value, str):
            try:
                return parse_json(value)
            except JsonProblem:
                return [value]
        return value

    def indices(self) -> list[int]:
        return parse_indices(self.artifacts_to_delete)


def is_number(value: str) -> bool:
    """ASCII digits only ("²".isdigit() is true, but int("²") fails)."""
    return value.isascii() and value.isdigit() and len(value) <= 12


def parse_indices(values: list[str]) -> list[int]:
    out = []
    for value in values:
        if not is_number(str(value)):
            raise bad_request(f"artifacts_to_delete holds {value!r}, which is not an index")
        out.append(int(value))
    if not out:
        raise bad_request("artifacts_to_delete must name at least one artifact index")
    return out


class ArtifactSpec(BaseModel):
    path: str
    length: int
    hashes: dict[str, Any]

    def target(self) -> TargetSpec:
        return TargetSpec(self.path, int(self.length), dict(self.hashes))


class PublishParams(TaskParams):
    version_id: str | None = None
    version_ids: list[str] | None = None
    artifacts: list[ArtifactSpec]


class RemoveParams(TaskParams):
    paths: list[str]
    version_id: str | None = None
    # Written by registry deletions: the task also deletes the files it still claims.
    delete_files: bool = False


async def _release_claims(ctx: TaskContext, task_id: str) -> None:
    await ctx.transactions.run(queries.release_claims, [task_id])


def _claimed_by(ctx: TaskContext, acceptance: Acceptance) -> None:
    """The task's claims are dropped if it is not accepted."""
    acceptance.on_failure(lambda: _release_claims(ctx, acceptance.task_id))


async def _select(
    ctx: TaskContext, actor: Actor, body: PublishRequest, task_id: str
) -> PublishSelection:
    """What is unsigned now, and unclaimed, read under the registry lock; claimed for
    ``task_id`` unless a path is claimed (the refusal rolls the claims back)."""
    async with (
        hold_lock(ctx.state, tenant_keys.registry_lock(actor.username)),
        ctx.transactions.begin() as tx,
    ):
        selection = await claim_publish(tx, actor.id, body.app_id, body.version, task_id)
        await require_bootstrapped(ctx.tuf.repo(actor.username, selection.app_name))
        refuse_claimed(selection.claimed)
    return selection


async def accept_publish(
    ctx: TaskContext, actor: Actor, body: PublishRequest
) -> tuple[PublishSelection, TaskRecord | None]:
    """The selection and the accepted task (None: everything is signed already)."""
    task_id = str(uuid.uuid4())
    selection = await _select(ctx, actor, body, task_id)
    if not selection.specs:
        return selection, None
    params = PublishParams(
        version_id=selection.version_ids[0],
        version_ids=selection.version_ids,
        artifacts=[ArtifactSpec.model_validate(s) for s in selection.specs],
    )
    async with accepting(ctx, actor, selection.app_name, task_id) as accepted:
        _claimed_by(ctx, accepted)
        return selection, await accepted.submit(TaskName.PUBLISH, params)


async def _signed_paths(
    ctx: TaskContext, actor: Actor, body: DeleteArtifactsRequest, task_id: str
) -> list[str]:
    """The TUF-signed paths among the named artifacts, claimed for ``task_id``."""
    indices = body.indices()
    async with (
        hold_lock(ctx.state, tenant_keys.registry_lock(actor.username)),
        ctx.sessions.begin() as session,
    ):
        version = await owned_version(
            session, actor.id, body.id, expect_app=body.app_name, expect_version=body.version
        )
        paths = [
            a.tuf_path
            for a in pick_artifacts(version, indices)
            if a.tuf_signed or a.tuf_awaiting is not None
        ]
        if not paths:
            raise ApiError(400, "No valid artifacts to delete (all must be TUF signed)", bare=True)
        await require_bootstrapped(ctx.tuf.repo(actor.username, body.app_name))
        refuse_claimed(await queries.claims_on(session, paths))
        await run_in_session(session, queries.insert_claims, paths, task_id)
    return paths


async def accept_removal(
    ctx: TaskContext, actor: Actor, body: DeleteArtifactsRequest
) -> tuple[list[str], TaskRecord]:
    """The paths to remove from TUF and the accepted task."""
    async with accepting(ctx, actor, body.app_name) as acceptance:
        paths = await _signed_paths(ctx, actor, body, acceptance.task_id)
        _claimed_by(ctx, acceptance)
        params = RemoveParams(paths=paths, version_id=body.id)
        return paths, await acceptance.submit(TaskName.REMOVE, params)
