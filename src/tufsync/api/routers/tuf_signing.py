"""Root rotation, the offline signing flow, and delegated key rotation (their
operations: :mod:`tufsync.operations.root_rotation`, ``.signing``, ``.delegated_rotation``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tufsync.api.deps import Tenant, TenantBody, query_tenant_json, tenant_from_query
from tufsync.api.repo_guard import require_ready
from tufsync.api.tuf_models import (
    DelegatedRotationRequest,
    PendingSigningAnswer,
    RoleRequest,
    RootRotationRequest,
    SignRequest,
    route_doc,
    task_accepted,
    task_route,
)
from tufsync.operations import delegated_rotation, root_rotation, signing
from tufsync.tuf.metastore import versioned_name
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.signing_flow import pending, pending_message

router = APIRouter(prefix="/tuf/v1/metadata", tags=["tuf: signing"])


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


@router.post("", **task_route(RootRotationRequest, 200, 400, 404, 409))
async def rotate_root(call: TenantBody = Depends(query_tenant_json)) -> JSONResponse:
    """A new root: published when fully signed, else kept as the draft to sign.

    A rotation posted while a draft exists replaces that draft and its
    signatures, as faynoSync's server does.
    """
    return await call.answer(root_rotation.accept, "Metadata Update Processed")


@router.get("/sign", **route_doc(PendingSigningAnswer, 200, 400, 404))
async def pending_signing(tenant: Tenant = Depends(tenant_from_query)) -> JSONResponse:
    repo = tenant.repo
    config = await require_ready(repo)
    drafts = await pending(repo, config)
    if not drafts:
        return JSONResponse({"data": None, "message": "No metadata pending signing available"})
    trusted = await repo.trusted()
    out: dict[str, Any] = {}
    for role, draft in drafts.items():
        out[role] = draft.metadata
        out[f"trusted_{role}"] = await _trusted_json(repo, trusted, role)
    message = pending_message(drafts, repo.engine.clock())
    return JSONResponse({"data": {"metadata": out}, "message": message})


@router.post("/sign", **task_route(SignRequest, 200, 400, 404))
async def post_signature(call: TenantBody = Depends(query_tenant_json)) -> JSONResponse:
    """Add one signature to a draft; finalize it once its threshold(s) are met.

    The answer to the signature that meets the threshold comes once the new version
    is published (or the finalize task failed: 400 with its sentence); past
    ``finalize_wait_seconds`` it comes with the task id still running (docs/api.md).
    """
    record = await call.accept(signing.accept_signature)
    record = await signing.wait_finalized(call.tenant.services, record)
    return task_accepted(record, signing.finished_message(record.params["role"]))


@router.post("/sign/delete", **task_route(RoleRequest, 202, 400, 404))
async def cancel_signing(call: TenantBody = Depends(query_tenant_json)) -> JSONResponse:
    return await call.answer(signing.accept_cancel, "Metadata sign delete accepted.", 202)


@router.post("/delegated/rotate", **task_route(DelegatedRotationRequest, 200, 400, 404))
async def rotate_delegated(call: TenantBody = Depends(query_tenant_json)) -> JSONResponse:
    """Stage a delegated rotation as drafts for ``POST /metadata/sign``.

    Staging replaces any delegated rotation still awaiting signatures, as
    faynoSync's server does. A rotation whose every threshold is already met
    by the signatures it carries has nothing left to sign: its task publishes it.
    """
    return await call.answer(delegated_rotation.accept, "Metadata rotation staged for signing")
