"""TUF bootstrap: status and start."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tufsync import tenant_keys
from tufsync.api.deps import (
    Admin,
    Tenant,
    current_admin,
    get_services,
    json_body_doc,
    read_json_object,
    tenant_from_body,
    tenant_from_query,
)
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.tuf_models import (
    BootstrapRequest,
    BootstrapStatusAnswer,
    RecoveryRequest,
    TaskAcceptedAnswer,
    answers,
)
from tufsync.services import Services
from tufsync.tasks.records import now_iso
from tufsync.tuf.bootstrap import validate_bootstrap_async
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.recovery import RecoveryNeed, recovery_need
from tufsync.tuf.validation import task_timeout

RECOVERY_TIMEOUT = 300.0

router = APIRouter(prefix="/tuf/v1", tags=["tuf: bootstrap"])


def _marker_task(marker: str | None) -> str:
    if not marker:
        return ""
    return marker.split("-", 1)[1] if marker.startswith(("pre-", "signing-")) else marker


@router.get("/bootstrap", responses=answers(200, BootstrapStatusAnswer, 400))
async def bootstrap_status(
    tenant: Tenant = Depends(tenant_from_query),
) -> dict[str, Any]:
    repo = tenant.repo
    marker = await repo.bootstrap_marker()
    done = await repo.is_bootstrapped()
    pre_locks = [marker] if marker and marker.startswith("pre-") else []
    return {
        "data": {
            "bootstrap": done,
            "id": marker or "",
            "state": None,
            "redis_locks": {"bootstrap_lock": marker or "", "pre_locks": pre_locks},
        },
        "message": "Bootstrap already completed for this admin."
        if done
        else "System available for bootstrap.",
    }


@router.post(
    "/bootstrap",
    status_code=202,
    openapi_extra=json_body_doc(BootstrapRequest),
    responses=answers(202, TaskAcceptedAnswer, 400, 409),
)
async def bootstrap(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> Any:
    payload = await read_json_object(request)
    tenant = tenant_from_body(payload, admin, services)
    repo, app = tenant.repo, tenant.app
    # Shape and types first: a malformed payload is a 400 even for a bootstrapped app.
    try:
        plan = await validate_bootstrap_async(
            admin.username, app, payload, services.tuf.keys, services.tuf.clock()
        )
    except TufInputError as exc:
        raise bad_request(str(exc)) from None
    marker = await repo.bootstrap_marker()

    def conflict(status: str, task_id: str) -> ApiError:
        error = (
            "Bootstrap already completed for this admin and app"
            if status == "completed"
            else "Bootstrap already in progress for this admin and app"
        )
        return ApiError(
            409,
            error,
            data={"admin": admin.username, "app": app, "status": status, "task_id": task_id},
        )

    if await repo.is_bootstrapped():
        raise conflict("completed", _marker_task(marker))
    if marker and marker.startswith("pre-"):
        raise conflict("in_progress", _marker_task(marker))

    task_id = str(uuid.uuid4())
    marker_key = tenant_keys.bootstrap(repo.ref)
    if not await services.state.set_if_absent(marker_key, f"pre-{task_id}"):
        current = await services.state.get(marker_key)
        raise conflict(
            "in_progress" if current and current.startswith("pre-") else "completed",
            _marker_task(current),
        )
    try:
        record = await tenant.submit(
            "bootstrap",
            {"payload": payload, "timeout": plan.timeout},
            task_id=task_id,
        )
    except BaseException:
        await services.state.delete_if_equals(marker_key, f"pre-{task_id}")
        raise
    return JSONResponse(
        {
            "data": {"task_id": record.task_id, "last_update": now_iso()},
            "message": "Bootstrap accepted and started in background",
        },
        status_code=202,
    )


RECOVERY_CONFLICTS = {
    RecoveryNeed.NOT_REQUIRED: (
        "Recovery not required: Redis state is already complete and consistent"
    ),
    RecoveryNeed.NO_ROOT: (
        "No persisted root metadata found. Bootstrap must be completed before recovery."
    ),
    RecoveryNeed.BOOTSTRAP_RUNNING: "Bootstrap in progress for this admin and app",
}


@router.post(
    "/bootstrap/recovery",
    status_code=202,
    openapi_extra=json_body_doc(RecoveryRequest),
    responses=answers(202, TaskAcceptedAnswer, 400, 409),
)
async def bootstrap_recovery(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> Any:
    body = await read_json_object(request)
    tenant = tenant_from_body(body, admin, services)
    repo = tenant.repo
    try:
        timeout = task_timeout(body.get("timeout"), RECOVERY_TIMEOUT)
    except TufInputError as exc:
        raise bad_request(str(exc)) from None
    need = await recovery_need(repo)
    if need in RECOVERY_CONFLICTS:
        raise ApiError(409, RECOVERY_CONFLICTS[need])
    task_id = str(uuid.uuid4())
    recovery_key = tenant_keys.recovery(repo.ref)
    if not await services.state.set_if_absent(recovery_key, task_id, ttl=float(timeout) + 60):
        raise ApiError(409, "Recovery already in progress for this admin and app")
    try:
        record = await tenant.submit(
            "bootstrap_recovery",
            {"timeout": timeout},
            task_id=task_id,
        )
    except BaseException:
        await services.state.delete_if_equals(recovery_key, task_id)
        raise
    return JSONResponse(
        {
            "data": {"last_update": now_iso(), "task_id": record.task_id},
            "message": "Bootstrap recovery accepted and started in background",
        },
        status_code=202,
    )
