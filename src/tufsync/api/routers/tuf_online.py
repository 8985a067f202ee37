"""Force a re-signing of online metadata (:mod:`tufsync.operations.online`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tufsync.api.deps import TenantBody, query_tenant_optional_json
from tufsync.api.tuf_models import OnlineUpdateRequest, task_route
from tufsync.operations import online

router = APIRouter(prefix="/tuf/v1", tags=["tuf: online metadata"])


@router.post("/metadata/online", **task_route(OnlineUpdateRequest, 200, 400, 404, 409))
async def force_online_update(
    call: TenantBody = Depends(query_tenant_optional_json),
) -> JSONResponse:
    return await call.answer(online.accept, "Force online metadata update accepted.")
