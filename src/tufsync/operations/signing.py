"""The offline signing flow: add a signature (``POST /tuf/v1/metadata/sign``), finalize
the draft(s) once their thresholds are met, or cancel a signing process
(``POST /tuf/v1/metadata/sign/delete``).

The request whose signature meets a threshold waits for its finalize task (up to
``finalize_wait_seconds``), so its answer comes after the publication; the task
keeps the work under the repository lock (docs/api.md, the signing flow).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel

from tufsync import testhooks
from tufsync.names import TOP_LEVEL_ROLES, InvalidName, check_role_name
from tufsync.operations.accept import Actor, TaskParams, accept_task, accepting
from tufsync.operations.delegated_rotation import unsign_unlisted
from tufsync.operations.guards import require_ready
from tufsync.operations.metadata_task import MetadataHandler, NothingToUndo
from tufsync.operations.offline_marks import delete_unlisted_files, reconcile_awaiting, removed_by
from tufsync.operations.refusal import ApiError, bad_request
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import Outcome, TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import FAILURE, TaskRecord
from tufsync.tuf.drafts import DraftExpired, DraftStore
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.repository import Repository
from tufsync.tuf.rotation import TargetsNotSignedForRoot
from tufsync.tuf.signing_flow import NoDraft, SignOutcome, draft_roles, finalize, pending, sign


class RoleRequest(BaseModel):
    role: str

    @classmethod
    def role_of(cls, body: dict[str, Any]) -> str:
        """The body's role: a top-level role or a well-formed delegated role name."""
        role = body.get("role")
        if not isinstance(role, str) or not role:
            raise bad_request("role is required")
        if role not in TOP_LEVEL_ROLES:
            try:
                check_role_name(role)
            except InvalidName as exc:
                raise bad_request(str(exc)) from None
        return role


class SignatureBody(BaseModel):
    keyid: str
    sig: str


class SignRequest(RoleRequest):
    signature: SignatureBody

    @classmethod
    def signature_of(cls, body: dict[str, Any]) -> dict[str, Any]:
        signature = body.get("signature")
        if not isinstance(signature, dict):
            raise bad_request('signature is required: {"keyid": "...", "sig": "..."}')
        return signature


class RoleParams(TaskParams):
    role: str


def finished_message(role: str) -> str:
    """What the accepted finalization answers."""
    return "Metadata update finished" if role == "root" else f"Role {role} signing complete"


async def _signed(
    repo: Repository, role: str, signature: dict[str, Any], task_id: str
) -> SignOutcome:
    config = await require_ready(repo)
    try:
        return await sign(repo, config, role, signature, finalize_task=task_id)
    except NoDraft:
        raise ApiError(
            404,
            f"No metadata found in signing process for role {role}",
            f"No signatures pending for {role}",
        ) from None
    except (DraftExpired, TargetsNotSignedForRoot) as exc:
        raise ApiError(400, str(exc), "Signature Failed") from None
    except TufInputError as exc:
        raise ApiError(
            400, f"Invalid signature or unauthorized key: {exc}", "Signature Failed"
        ) from None


async def accept_signature(
    ctx: TaskContext, actor: Actor, repo: Repository, body: dict[str, Any]
) -> TaskRecord:
    """Add one signature to a draft; accept its finalization once its threshold(s) are met."""
    role = RoleRequest.role_of(body)
    signature = SignRequest.signature_of(body)
    # The finalize task's id is chosen first: the signature that meets the threshold is
    # stored under a marker naming it, which the sweep uses if this request dies.
    task_id = str(uuid.uuid4())
    outcome = await _signed(repo, role, signature, task_id)
    signed = {"role": role, "keyid": str(signature.get("keyid", ""))}
    details = {**signed, "complete": outcome.complete, "progress": outcome.message}
    async with accepting(ctx, actor, repo.app, task_id=task_id) as acceptance:
        await acceptance.note("signature_added", details)
        if not outcome.complete:
            raise ApiError(400, outcome.message, "Signature Failed")
        await testhooks.pause("threshold_met", task="sign_request")
        return await acceptance.submit_once(TaskName.FINALIZE_SIGNING, RoleParams(role=role))


async def wait_finalized(ctx: TaskContext, record: TaskRecord) -> TaskRecord:
    """Wait (up to ``finalize_wait_seconds``) for the finalize task accepted by
    :func:`accept_signature`; return its record, finished or not. A FAILURE is
    refused with the task's own sentence, and the task id in ``data``.

    Only the state store is polled (no database connection is held, the event loop
    is free between polls); the task itself runs in the worker.
    """
    done = await ctx.records.wait_finished(record.task_id, ctx.settings.finalize_wait_seconds)
    if done is None or done.state != FAILURE:
        return record if done is None else done
    error = str((done.result or {}).get("error") or "") or (
        f"The signing task {done.task_id} failed; see GET /tuf/v1/task?task_id={done.task_id}"
    )
    raise ApiError(400, error, error, data={"task_id": done.task_id})


async def accept_cancel(
    ctx: TaskContext, actor: Actor, repo: Repository, body: dict[str, Any]
) -> TaskRecord:
    role = RoleRequest.role_of(body)
    config = await require_ready(repo)
    if role not in await draft_roles(repo, config) or await DraftStore(repo).get(role) is None:
        raise ApiError(
            400, f"The {role} role is not in a signing process.", f"No signing process for {role}."
        )
    return await accept_task(ctx, actor, repo.app, TaskName.CANCEL_SIGNING, RoleParams(role=role))


class FinalizeSigningHandler(MetadataHandler):
    """Thresholds are met: publish the draft(s) and remove them."""

    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        repo = ctx.tuf.repo(record.admin, record.app)
        role = RoleParams.model_validate(record.params).role
        details: dict[str, Any] = {}
        # Urgent: the request that met the threshold is waiting for this task, so it
        # goes before the repository's other tasks waiting for the lock.
        async with hold_lock(ctx.state, repo.lock_name, urgent=True) as lock:
            config = await repo.require_config()
            removed = await removed_by(repo, list((await pending(repo, config)).values()))
            versions = await finalize(repo, config, role, lock)
            if isinstance(versions, dict):
                # The registry follows what was published: artifacts a release draft
                # listed are signed, those a rotation dropped unsigned, removed files go.
                marks = await reconcile_awaiting(ctx, repo, record.task_id)
                unlisted = await unsign_unlisted(ctx, repo)
                deleted = await delete_unlisted_files(ctx, repo, removed)
                details = {"signed_artifacts": marks.signed, "unlisted_artifacts": unlisted}
                details["deleted_files"] = deleted
        await DraftStore(repo).unmark_finalizing(record.task_id)
        if isinstance(versions, list):
            return Outcome(
                f"Role {role} signing complete; the rotation is published once "
                f"{versions} are signed too",
                {"awaiting": versions},
            )
        return Outcome("Metadata update finished", {"versions": versions, **details})

    async def on_failure(self, ctx: TaskContext, record: TaskRecord) -> None:
        """The failure is the answer (the drafts stay, as the signing queue shows): the
        sweep must not run the task again."""
        await super().on_failure(ctx, record)
        await DraftStore(ctx.tuf.repo(record.admin, record.app)).unmark_finalizing(record.task_id)


class CancelSigningHandler(NothingToUndo):
    """Drop a draft; the trusted metadata is untouched."""

    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        repo = ctx.tuf.repo(record.admin, record.app)
        role = RoleParams.model_validate(record.params).role
        async with hold_lock(ctx.state, repo.lock_name):
            await DraftStore(repo).delete(role)
            # Artifacts only the cancelled draft listed are unsigned again.
            await reconcile_awaiting(ctx, repo, record.task_id)
        return Outcome(f"Deletion of {role} metadata successful, signing process stopped")
