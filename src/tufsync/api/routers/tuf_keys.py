"""Online keys made by the server for a repository (a tufsync addition): make, list, delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from tufsync.api.deps import Tenant, read_json_object, tenant_from_query, validate_model
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.tuf_models import request_body, route_doc
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


# The body is optional: no body makes an ed25519 key.
_OPTIONAL_BODY = {
    "requestBody": {**request_body(CreateKeyRequest)["requestBody"], "required": False}
}


@router.post(
    "/keys/online",
    **route_doc(CreatedKeyAnswer, 201, 400, 409, 503),
    openapi_extra=_OPTIONAL_BODY,
)
async def create_online_key(
    request: Request, tenant: Tenant = Depends(tenant_from_query)
) -> JSONResponse:
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
    data = {"keyid": made.keyid, "key": online_keys.public_dict(made)}
    return JSONResponse({"data": data, "message": "Online key created"}, status_code=201)


@router.get("/keys/online", **route_doc(KeyListAnswer, 200, 400))
async def list_online_keys(tenant: Tenant = Depends(tenant_from_query)) -> JSONResponse:
    keys = await online_keys.listing(_caller(tenant))
    message = f"{len(keys)} online key(s) made by the server"
    return JSONResponse({"data": {"keys": keys}, "message": message})


@router.delete("/keys/online", **route_doc(DeletedKeyAnswer, 200, 400, 404, 409))
async def delete_online_key(
    keyid: str | None = Query(default=None, description="The key to delete."),
    tenant: Tenant = Depends(tenant_from_query),
) -> JSONResponse:
    if not keyid:
        raise bad_request("keyid query parameter is required", "Online key not deleted")
    try:
        await online_keys.delete(tenant.services, _caller(tenant), keyid)
    except OnlineKeyRefused as exc:
        raise _refused(exc) from None
    return JSONResponse({"data": {"keyid": keyid}, "message": "Online key deleted"})
