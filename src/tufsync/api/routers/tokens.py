"""API tokens: ``/token/create``, ``/token/list``, ``/token/delete`` (faynoSync's shapes).

Only an admin's own login manages tokens; the secret is answered once, at creation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tufsync.api.deps import (
    Admin,
    auth_cache,
    current_admin,
    get_services,
    read_json_object,
)
from tufsync.api.errors import ApiError, bad_request
from tufsync.auth import api_tokens
from tufsync.db import queries
from tufsync.db.models import ApiToken, utcnow
from tufsync.registry.views import token_view
from tufsync.services import Services

router = APIRouter(prefix="/token", tags=["api tokens"])

MAX_ALLOWED_APPS = 1000


class CreateTokenBody(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    allowed_apps: list[str] = Field(min_length=1, max_length=MAX_ALLOWED_APPS)
    expires_at: datetime | None = None


class DeleteTokenBody(BaseModel):
    id: str = Field(min_length=1, max_length=64)


def _parse(model: type[CreateTokenBody] | type[DeleteTokenBody], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValueError:
        raise bad_request("Invalid request body") from None


@router.post("/create", status_code=201)
async def create_token(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> JSONResponse:
    body: CreateTokenBody = _parse(CreateTokenBody, await read_json_object(request))
    expires_at = body.expires_at
    if expires_at is not None:
        expires_at = queries.as_utc(expires_at)
        if expires_at <= utcnow():
            raise bad_request("expires_at must be in the future")
    allowed = list(dict.fromkeys(body.allowed_apps))
    secret, prefix, digest = api_tokens.generate()
    async with services.sessions.begin() as session:
        known = await queries.app_ids_owned(session, admin.id, allowed)
        if len(known) != len(allowed):
            raise bad_request("one or more allowed_apps are invalid")
        token = ApiToken(
            id=queries.new_id(),
            owner_id=admin.id,
            name=body.name,
            token_hash=digest,
            token_prefix=prefix,
            allowed_apps=allowed,
            expires_at=expires_at,
            created_at=utcnow(),
        )
        session.add(token)
    view = token_view(token)
    view["token"] = secret
    view.setdefault("expires_at", None)
    return JSONResponse(view, status_code=201)


@router.get("/list")
async def list_tokens(
    admin: Admin = Depends(current_admin), services: Services = Depends(get_services)
) -> dict[str, Any]:
    async with services.sessions() as session:
        tokens = await queries.list_api_tokens(session, admin.id)
    return {"tokens": [token_view(t) for t in tokens]}


@router.delete("/delete")
async def delete_token(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, str]:
    body: DeleteTokenBody = _parse(DeleteTokenBody, await read_json_object(request))
    async with services.sessions.begin() as session:
        if not await queries.delete_api_token(session, admin.id, body.id):
            raise ApiError(404, "Token not found")
    auth_cache(request).changed()  # this process at once; others by the epoch
    return {"message": "Token revoked"}
