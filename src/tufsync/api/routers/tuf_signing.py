"""Root rotation, the offline signing flow, and delegated key rotation."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tufsync.api.deps import Tenant, json_body_doc, read_json_object, tenant_from_query
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.repo_guard import require_ready
from tufsync.api.tuf_models import (
    DelegatedRotationRequest,
    PendingSigningAnswer,
    RoleRequest,
    RootRotationRequest,
    SignRequest,
    TaskAcceptedAnswer,
    answers,
)
from tufsync.audit_events import delegated_rotation_details, root_rotation_details
from tufsync.names import TOP_LEVEL_ROLES, InvalidName, check_role_name
from tufsync.state.locks import hold_lock
from tufsync.tasks.records import now_iso
from tufsync.tuf.delegated_rotation import stage_delegated_rotation
from tufsync.tuf.drafts import Draft, DraftExpired, DraftStore, progress_of, requirements_for
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.metastore import versioned_name
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.rotation import validate_new_root
from tufsync.tuf.signing_flow import NoDraft, draft_roles, pending, pending_message, sign

router = APIRouter(prefix="/tuf/v1/metadata", tags=["tuf: signing"])


def _accepted(task_id: str, message: str, status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"data": {"task_id": task_id, "last_update": now_iso()}, "message": message},
        status_code=status,
    )


def _role_param(body: dict[str, Any]) -> str:
    role = body.get("role")
    if not isinstance(role, str) or not role:
        raise bad_request("role is required")
    if role not in TOP_LEVEL_ROLES:
        try:
            check_role_name(role)
        except InvalidName as exc:
            raise bad_request(str(exc)) from None
    return role


async def _trusted_json(repo: Repository, trusted: Trusted, role: str) -> Any:
    if role == "root":
        filename = versioned_name("root", trusted.root.signed.version)
    elif role == "targets":
        filename = versioned_name("targets", trusted.targets.signed.version)
    else:
        meta = trusted.snapshot.signed.meta.get(f"{role}.json")
        if meta is None:
            return None
        filename = versioned_name(role, meta.version)
    raw = await repo.files.read_bytes(filename)
    return None if raw is None else json.loads(raw)


@router.post(
    "",
    openapi_extra=json_body_doc(RootRotationRequest),
    responses=answers(200, TaskAcceptedAnswer, 400, 404, 409),
)
async def rotate_root(
    request: Request,
    tenant: Tenant = Depends(tenant_from_query),
) -> JSONResponse:
    """A new root: published when fully signed, else kept as the draft to sign.

    A rotation posted while a draft exists replaces that draft and its
    signatures, as faynoSync's server does.
    """
    repo = tenant.repo
    body = await read_json_object(request)
    metadata = body.get("metadata")
    if not isinstance(metadata, dict) or "root" not in metadata:
        raise bad_request('Invalid request: send {"metadata": {"root": {...}}}.')
    config = await require_ready(repo)
    store = DraftStore(repo)
    trusted = await repo.trusted()
    try:
        new_root = validate_new_root(
            trusted.root.signed,
            metadata["root"],
            tenant.services.tuf.keys,
            repo.admin,
            repo.app,
            tenant.services.tuf.clock(),
            config.targets_online_key,
            delegations.keys if (delegations := trusted.targets.signed.delegations) else None,
        )
    except TufInputError as exc:
        raise bad_request(str(exc), "Metadata Update Failed") from None
    reqs = requirements_for("root", new_root, trusted.root.signed, trusted.root.signed)
    version = new_root.signed.version
    if progress_of(new_root, reqs).complete:
        params: dict[str, Any] = {"mode": "publish", "root": new_root.to_dict(), "version": version}
        details = root_rotation_details(trusted.root.signed, new_root.signed, "publish")
        record = await tenant.submit_audited(
            "metadata_update", params, "root_rotation_posted", details
        )
        return _accepted(record.task_id, "Metadata Update Processed")
    draft = Draft("root", new_root.to_dict(), trusted.root.signed.version)
    details = root_rotation_details(trusted.root.signed, new_root.signed, "awaiting")
    async with hold_lock(repo.state, store.lock_name, ttl=30, wait=30):
        previous = await store.get("root")
        await store.save(draft)
        try:
            record = await tenant.submit_audited(
                "metadata_update",
                {"mode": "awaiting", "version": version},
                "root_rotation_posted",
                details,
            )
        except BaseException:  # nothing half-written when the task cannot be accepted
            if previous is None:
                await store.delete("root")
            else:
                await store.save(previous)
            raise
    return _accepted(record.task_id, "Metadata Update Processed")


@router.get("/sign", responses=answers(200, PendingSigningAnswer, 400, 404))
async def pending_signing(
    tenant: Tenant = Depends(tenant_from_query),
) -> dict[str, Any]:
    repo = tenant.repo
    config = await require_ready(repo)
    drafts = await pending(repo, config)
    if not drafts:
        return {"data": None, "message": "No metadata pending signing available"}
    trusted = await repo.trusted()
    out: dict[str, Any] = {}
    for role, draft in drafts.items():
        out[role] = draft.metadata
        out[f"trusted_{role}"] = await _trusted_json(repo, trusted, role)
    message = pending_message(drafts, tenant.services.tuf.clock())
    return {"data": {"metadata": out}, "message": message}


@router.post(
    "/sign",
    openapi_extra=json_body_doc(SignRequest),
    responses=answers(200, TaskAcceptedAnswer, 400, 404),
)
async def post_signature(
    request: Request,
    tenant: Tenant = Depends(tenant_from_query),
) -> JSONResponse:
    """Add one signature to a draft; finalize it once its threshold(s) are met."""
    repo = tenant.repo
    body = await read_json_object(request)
    role = _role_param(body)
    signature = body.get("signature")
    if not isinstance(signature, dict):
        raise bad_request('signature is required: {"keyid": "...", "sig": "..."}')
    config = await require_ready(repo)
    try:
        outcome = await sign(repo, config, role, signature)
    except NoDraft:
        raise ApiError(
            404,
            f"No metadata found in signing process for role {role}",
            f"No signatures pending for {role}",
        ) from None
    except DraftExpired as exc:
        raise ApiError(400, str(exc), "Signature Failed") from None
    except TufInputError as exc:
        raise ApiError(
            400, f"Invalid signature or unauthorized key: {exc}", "Signature Failed"
        ) from None
    signed = {"role": role, "keyid": str(signature.get("keyid", ""))}
    await tenant.audit(
        "signature_added", {**signed, "complete": outcome.complete, "progress": outcome.message}
    )
    if not outcome.complete:
        raise ApiError(400, outcome.message, "Signature Failed")
    record = await tenant.submit("sign_metadata", {"role": role})
    message = "Metadata update finished" if role == "root" else f"Role {role} signing complete"
    return _accepted(record.task_id, message)


@router.post(
    "/sign/delete",
    status_code=202,
    openapi_extra=json_body_doc(RoleRequest),
    responses=answers(202, TaskAcceptedAnswer, 400, 404),
)
async def cancel_signing(
    request: Request,
    tenant: Tenant = Depends(tenant_from_query),
) -> JSONResponse:
    repo = tenant.repo
    role = _role_param(await read_json_object(request))
    config = await require_ready(repo)
    if role not in await draft_roles(repo, config) or await DraftStore(repo).get(role) is None:
        raise ApiError(
            400, f"The {role} role is not in a signing process.", f"No signing process for {role}."
        )
    record = await tenant.submit("delete_sign_metadata", {"role": role})
    return _accepted(record.task_id, "Metadata sign delete accepted.", status=202)


@router.post(
    "/delegated/rotate",
    openapi_extra=json_body_doc(DelegatedRotationRequest),
    responses=answers(200, TaskAcceptedAnswer, 400, 404),
)
async def rotate_delegated(
    request: Request,
    tenant: Tenant = Depends(tenant_from_query),
) -> JSONResponse:
    """Stage a delegated rotation as drafts for ``POST /metadata/sign``.

    Staging replaces any delegated rotation still awaiting signatures, as
    faynoSync's server does. A rotation whose every threshold is already met
    by the signatures it carries has nothing left to sign: its task publishes it.
    """
    services, repo, app = tenant.services, tenant.repo, tenant.app
    body = await read_json_object(request)
    config = await repo.config()
    if config is None:
        raise bad_request(f"Bootstrap of app {app!r} is not completed")
    await require_ready(repo)
    trusted = await repo.trusted()
    try:
        staged = await stage_delegated_rotation(
            repo, config, trusted, body, services.tuf.keys, services.tuf.clock()
        )
    except TufInputError as exc:
        raise bad_request(str(exc), "Metadata Update Failed") from None
    store = DraftStore(repo)
    details = delegated_rotation_details(staged.drafts, staged.complete)
    params: dict[str, Any] = {
        "mode": "awaiting",
        "drafts": [{"role": d.role} for d in staged.drafts],
    }
    if staged.complete:
        # Nothing awaits a signature (every threshold is met by the signatures sent):
        # the task publishes the rotation; it replaces any pending one all the same.
        params = {
            "mode": "publish",
            "drafts": [
                {"role": d.role, "metadata": d.metadata, "trusted_version": d.trusted_version}
                for d in staged.drafts
            ],
        }
    async with hold_lock(repo.state, store.lock_name, ttl=30, wait=30):
        roles = [r for r in await draft_roles(repo, config) if r != "root"]
        previous = await store.all(roles)
        for role in previous:
            await store.delete(role)
        if not staged.complete:
            for draft in staged.drafts:
                await store.save(draft)
        try:
            record = await tenant.submit_audited(
                "metadata_delegation", params, "delegated_rotation_posted", details
            )
        except BaseException:  # nothing half-written when the task cannot be accepted
            for draft in staged.drafts:
                await store.delete(draft.role)
            for old in previous.values():
                await store.save(old)
            raise
    return _accepted(record.task_id, "Metadata rotation staged for signing")
