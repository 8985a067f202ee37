"""Repository settings: read them, change role expirations (:mod:`tufsync.operations.settings`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tufsync.api.deps import Tenant, TenantBody, query_tenant_json, tenant_from_query
from tufsync.api.errors import ApiError
from tufsync.api.tuf_models import (
    ConfigAnswer,
    ConfigUpdateRequest,
    route_doc,
    task_route,
)
from tufsync.operations import settings

router = APIRouter(prefix="/tuf/v1", tags=["tuf: config"])


@router.get("/config", **route_doc(ConfigAnswer, 200, 400, 404))
async def get_config(tenant: Tenant = Depends(tenant_from_query)) -> JSONResponse:
    repo = tenant.repo
    config = await repo.config()
    if config is None:
        marker = await repo.bootstrap_marker()
        raise ApiError(
            404,
            f"It requires bootstrap. State: {marker or ''}",
            "No Repository Settings/Config found.",
        )
    return JSONResponse({"data": config.to_dict(), "message": "Current Settings"})


@router.put("/config", **task_route(ConfigUpdateRequest, 202, 400, 404, 409))
async def put_config(call: TenantBody = Depends(query_tenant_json)) -> JSONResponse:
    return await call.answer(settings.accept, "Settings successfully submitted.", 202)
