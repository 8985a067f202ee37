"""TUF bootstrap: status, start (:mod:`tufsync.operations.bootstrap`) and recovery
(:mod:`tufsync.operations.recovery`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tufsync.api.deps import Tenant, TenantBody, body_tenant_json, tenant_from_query
from tufsync.api.tuf_models import (
    BootstrapRequest,
    BootstrapStatusAnswer,
    RecoveryRequest,
    route_doc,
    task_accepted,
    task_route,
)
from tufsync.operations import bootstrap as bootstrapping
from tufsync.operations import recovery

router = APIRouter(prefix="/tuf/v1", tags=["tuf: bootstrap"])


@router.get("/bootstrap", **route_doc(BootstrapStatusAnswer, 200, 400))
async def bootstrap_status(tenant: Tenant = Depends(tenant_from_query)) -> JSONResponse:
    repo = tenant.repo
    marker = await repo.bootstrap_marker()
    done = await repo.is_bootstrapped()
    pre_locks = [marker] if marker and marker.startswith("pre-") else []
    data = {
        "bootstrap": done,
        "id": marker or "",
        "state": None,
        "redis_locks": {"bootstrap_lock": marker or "", "pre_locks": pre_locks},
    }
    if done:
        return JSONResponse(
            {"data": data, "message": "Bootstrap already completed for this admin."}
        )
    return JSONResponse({"data": data, "message": "System available for bootstrap."})


@router.post("/bootstrap", **task_route(BootstrapRequest, 202, 400, 409))
async def bootstrap(call: TenantBody = Depends(body_tenant_json)) -> JSONResponse:
    return await call.answer(
        bootstrapping.accept, "Bootstrap accepted and started in background", 202
    )


@router.post("/bootstrap/recovery", **task_route(RecoveryRequest, 202, 400, 409))
async def bootstrap_recovery(call: TenantBody = Depends(body_tenant_json)) -> JSONResponse:
    record = await call.accept(recovery.accept)
    message = "Bootstrap recovery accepted and started in background"
    return task_accepted(record, message, 202, sort_keys=True)
