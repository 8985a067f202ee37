"""Root rotation (``POST /tuf/v1/metadata``): a new root is published when fully signed,
else kept as the draft to sign. A rotation posted while a draft exists replaces that
draft and its signatures, as faynoSync's server does."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel
from tuf.api.metadata import Metadata, Root

from tufsync.audit_events import root_rotation_details
from tufsync.operations.accept import Actor, TaskParams, accepting
from tufsync.operations.drafting import drafts_locked, replace_drafts
from tufsync.operations.guards import require_ready
from tufsync.operations.metadata_task import MetadataHandler
from tufsync.operations.refusal import bad_request
from tufsync.operations.request_models import Loose
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import Outcome, TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.drafts import Draft, DraftStore, progress_of, requirements_for
from tufsync.tuf.errors import OnlineKeysMissing, TufInputError
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.rotation import publish_root, require_top_level_verifies, validate_new_root

POSTED = "root_rotation_posted"


class RootRotationMetadata(Loose):
    root: dict[str, Any]


class RootRotationRequest(BaseModel):
    metadata: RootRotationMetadata

    @classmethod
    def root_of(cls, body: dict[str, Any]) -> Any:
        """The posted root (checked by :func:`validate_new_root`); 400 without one."""
        metadata = body.get("metadata")
        if not isinstance(metadata, dict) or "root" not in metadata:
            raise bad_request('Invalid request: send {"metadata": {"root": {...}}}.')
        return metadata["root"]


class RootRotationParams(TaskParams):
    # "awaiting": the draft is stored, the task only reports it; "publish": ``root``
    # is fully signed and the task publishes it.
    mode: Literal["awaiting", "publish"]
    root: dict[str, Any] | None = None
    version: int


def _validated(
    ctx: TaskContext, repo: Repository, trusted: Trusted, posted: Any, online_targets: bool
) -> Metadata[Root]:
    delegations = trusted.targets.signed.delegations
    try:
        new_root = validate_new_root(
            trusted.root.signed,
            posted,
            ctx.tuf.keys,
            repo.admin,
            repo.app,
            ctx.tuf.clock(),
            online_targets,
            delegations.keys if delegations else None,
        )
        require_top_level_verifies(new_root.signed, trusted.targets, online_targets)
        return new_root
    except OnlineKeysMissing as exc:
        # The dashboard shows ``message``: say which key is missing and how to fix it.
        raise bad_request(str(exc), str(exc)) from None
    except TufInputError as exc:
        raise bad_request(str(exc), "Metadata Update Failed") from None


async def accept(
    ctx: TaskContext, actor: Actor, repo: Repository, body: dict[str, Any]
) -> TaskRecord:
    posted = RootRotationRequest.root_of(body)
    config = await require_ready(repo)
    trusted = await repo.trusted()
    new_root = _validated(ctx, repo, trusted, posted, config.targets_online_key)
    current = trusted.root.signed
    reqs = requirements_for("root", new_root, current, current)
    version = new_root.signed.version
    if progress_of(new_root, reqs).complete:
        async with accepting(ctx, actor, repo.app) as acceptance:
            await acceptance.audit(
                POSTED, root_rotation_details(current, new_root.signed, "publish")
            )
            params = RootRotationParams(mode="publish", root=new_root.to_dict(), version=version)
            return await acceptance.submit(TaskName.ROOT_ROTATION, params)
    draft = Draft("root", new_root.to_dict(), current.version)
    async with drafts_locked(repo) as store, accepting(ctx, actor, repo.app) as acceptance:
        await replace_drafts(acceptance, store, ["root"], [draft])
        await acceptance.audit(POSTED, root_rotation_details(current, new_root.signed, "awaiting"))
        params = RootRotationParams(mode="awaiting", version=version)
        return await acceptance.submit(TaskName.ROOT_ROTATION, params)


class RootRotationHandler(MetadataHandler):
    """Publish a fully signed new root, or report the stored draft."""

    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        params = RootRotationParams.model_validate(record.params)
        if params.root is None:
            return Outcome(
                f"Root version {params.version} stored; awaiting signatures "
                "(see GET /tuf/v1/metadata/sign)"
            )
        repo = ctx.tuf.repo(record.admin, record.app)
        new_root = Metadata.from_dict(copy.deepcopy(params.root))
        async with hold_lock(ctx.state, repo.lock_name) as lock:
            versions = await publish_root(repo, new_root, lock)
            store = DraftStore(repo)
            draft = await store.get("root")
            if draft is not None and draft.metadata["signed"]["version"] <= new_root.signed.version:
                await store.delete("root")  # a draft of a version now published is stale
        return Outcome("Metadata update completed successfully", {"versions": versions})
