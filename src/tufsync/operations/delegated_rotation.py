"""Delegated key rotation (``POST /tuf/v1/metadata/delegated/rotate``): stage the new
metadata as drafts for ``POST /tuf/v1/metadata/sign``.

Staging replaces any delegated rotation still awaiting signatures, as
faynoSync's server does. A rotation whose every threshold is already met by the
signatures it carries has nothing left to sign: its task publishes it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tufsync import tenant_keys
from tufsync.audit_events import delegated_rotation_details
from tufsync.db import queries
from tufsync.operations.accept import Actor, TaskParams, accepting
from tufsync.operations.drafting import drafts_locked, replace_drafts
from tufsync.operations.guards import require_ready
from tufsync.operations.metadata_task import MetadataHandler
from tufsync.operations.offline_marks import reconcile_awaiting
from tufsync.operations.refusal import bad_request
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import Outcome, TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.config import RepoConfig
from tufsync.tuf.delegated_rotation import StagedDrafts, publish_delegated, stage_delegated_rotation
from tufsync.tuf.drafts import Draft
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.listing import listed_entries
from tufsync.tuf.repository import Repository
from tufsync.tuf.signing_flow import draft_roles


class DelegatedRotationRequest(BaseModel):
    # The body's shape; validate_bootstrap / stage_delegated_rotation check it in full.
    role: str
    delegator: str = "targets"
    metadata: dict[str, dict[str, Any]] = Field(
        description="'targets' and/or the role: new versions of their metadata."
    )


class StagedDraft(BaseModel):
    role: str
    # Set when the task publishes the rotation (every threshold met when posted).
    metadata: dict[str, Any] | None = None
    trusted_version: int | None = None


class DelegatedRotationParams(TaskParams):
    # "awaiting": the drafts are stored, the task only reports them; "publish": the
    # drafts travel here, complete, and the task publishes them.
    mode: Literal["awaiting", "publish"]
    drafts: list[StagedDraft]

    @classmethod
    def of(cls, staged: StagedDrafts) -> DelegatedRotationParams:
        if not staged.complete:
            return cls(mode="awaiting", drafts=[StagedDraft(role=d.role) for d in staged.drafts])
        return cls(
            mode="publish",
            drafts=[
                StagedDraft(role=d.role, metadata=d.metadata, trusted_version=d.trusted_version)
                for d in staged.drafts
            ],
        )

    def complete_drafts(self) -> list[Draft]:
        return [
            Draft(d.role, d.metadata, d.trusted_version)
            for d in self.drafts
            if d.metadata is not None and d.trusted_version is not None
        ]


async def _bootstrapped(repo: Repository) -> RepoConfig:
    config = await repo.config()
    if config is None:
        raise bad_request(f"Bootstrap of app {repo.app!r} is not completed")
    await require_ready(repo)
    return config


async def _staged(
    ctx: TaskContext, repo: Repository, config: RepoConfig, body: dict[str, Any]
) -> StagedDrafts:
    trusted = await repo.trusted()
    try:
        return await stage_delegated_rotation(
            repo, config, trusted, body, ctx.tuf.keys, ctx.tuf.clock()
        )
    except TufInputError as exc:
        raise bad_request(str(exc), "Metadata Update Failed") from None


async def accept(
    ctx: TaskContext, actor: Actor, repo: Repository, body: dict[str, Any]
) -> TaskRecord:
    config = await _bootstrapped(repo)
    staged = await _staged(ctx, repo, config, body)
    details = delegated_rotation_details(staged.drafts, staged.complete)
    async with drafts_locked(repo) as store, accepting(ctx, actor, repo.app) as acceptance:
        replaced = [r for r in await draft_roles(repo, config) if r != "root"]
        # A complete rotation is published by its task; it replaces any pending one all the same.
        await replace_drafts(acceptance, store, replaced, [] if staged.complete else staged.drafts)
        await acceptance.audit("delegated_rotation_posted", details)
        params = DelegatedRotationParams.of(staged)
        return await acceptance.submit(TaskName.DELEGATED_ROTATION, params)


async def unsign_unlisted(ctx: TaskContext, repo: Repository) -> list[str]:
    """Mark unsigned the repository's signed rows whose path the published metadata
    no longer lists anywhere (a rotation dropped the role that listed it, or changed
    its patterns); return their paths. Caller holds the repository lock, so no
    publish lists a path in between."""
    async with ctx.reads() as session:
        signed = await queries.signed_under(session, tenant_keys.artifact_prefix(repo.ref))
    if not signed:
        return []
    listed = await listed_entries(repo, signed)
    gone = [path for path in signed if path not in listed]
    if gone:
        await ctx.transactions.run(queries.mark_unsigned, gone)
    return gone


class DelegatedRotationHandler(MetadataHandler):
    """Publish a delegated rotation, or report the staged drafts."""

    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        params = DelegatedRotationParams.model_validate(record.params)
        roles = [d.role for d in params.drafts]
        repo = ctx.tuf.repo(record.admin, record.app)
        if params.mode == "awaiting":
            async with hold_lock(ctx.state, repo.lock_name):
                # Artifacts awaiting a release draft this rotation replaced are unsigned.
                await reconcile_awaiting(ctx, repo, record.task_id)
            return Outcome(f"Metadata rotation of {roles} staged; awaiting signatures")
        async with hold_lock(ctx.state, repo.lock_name) as lock:
            versions = await publish_delegated(repo, params.complete_drafts(), lock)
            await reconcile_awaiting(ctx, repo, record.task_id)
            unlisted = await unsign_unlisted(ctx, repo)
        details: dict[str, Any] = {"versions": versions}
        if unlisted:
            details["unlisted_artifacts"] = unlisted
        return Outcome("Delegated metadata published", details)
