"""Online keys made by the server for a repository (a tufsync addition): make, list, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from tufsync.api.deps import (
    Tenant,
    json_body_doc,
    read_json_object,
    tenant_from_query,
    validate_model,
)
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.tuf_models import answers
from tufsync.operations import online_keys
from tufsync.operations.online_keys import (
    Caller,
    CreatedKeyAnswer,
    CreateKeyRequest,
    DeletedKeyAnswer,
    KeyListAnswer,
    OnlineKeyRefused,
)

router = APIRouter(prefix="/tuf/v1", tags=["tuf: online keys"])


def _caller(tenant: Tenant) -> Caller:
    return Caller(tenant.admin.id, tenant.admin.username, tenant.repo)


def _refused(exc: OnlineKeyRefused) -> ApiError:
    return ApiError(exc.status, exc.error, exc.message)


@router.post(
    "/keys/online",
    status_code=201,
    openapi_extra={
        **json_body_doc(CreateKeyRequest),
        "requestBody": {**json_body_doc(CreateKeyRequest)["requestBody"], "required": False},
    },
    responses=answers(201, CreatedKeyAnswer, 400, 409, 503),
)
async def create_online_key(
    request: Request, tenant: Tenant = Depends(tenant_from_query)
) -> dict[str, Any]:
    try:
        raw = await request.body()
        body = await read_json_object(request) if raw.strip() else {}
        wanted = validate_model(CreateKeyRequest, body)
    except ApiError as exc:
        raise ApiError(exc.status, exc.error, "Online key not created") from None
    try:
        made = await online_keys.create(tenant.services, _caller(tenant), wanted)
    except OnlineKeyRefused as exc:
        raise _refused(exc) from None
    return {
        "data": {"keyid": made.keyid, "key": online_keys.public_dict(made)},
        "message": "Online key created",
    }


@router.get("/keys/online", responses=answers(200, KeyListAnswer, 400))
async def list_online_keys(tenant: Tenant = Depends(tenant_from_query)) -> dict[str, Any]:
    keys = await online_keys.listing(_caller(tenant))
    return {"data": {"keys": keys}, "message": f"{len(keys)} online key(s) made by the server"}


@router.delete("/keys/online", responses=answers(200, DeletedKeyAnswer, 400, 404, 409))
async def delete_online_key(
    keyid: str | None = Query(default=None, description="The key to delete."),
    tenant: Tenant = Depends(tenant_from_query),
) -> dict[str, Any]:
    if not keyid:
        raise bad_request("keyid query parameter is required", "Online key not deleted")
    try:
        await online_keys.delete(tenant.services, _caller(tenant), keyid)
    except OnlineKeyRefused as exc:
        raise _refused(exc) from None
    return {"data": {"keyid": keyid}, "message": "Online key deleted"}
