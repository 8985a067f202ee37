"""Repository settings: read them, change role expirations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tufsync.api.deps import Tenant, json_body_doc, read_json_object, tenant_from_query
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.repo_guard import require_ready
from tufsync.api.tuf_models import ConfigAnswer, ConfigUpdateRequest, TaskAcceptedAnswer, answers
from tufsync.tasks.records import now_iso
from tufsync.tuf.config import BIN_PREFIX, MAX_EXPIRATION_DAYS

router = APIRouter(prefix="/tuf/v1", tags=["tuf: config"])
CHANGEABLE_TOP_LEVEL = ("targets", "snapshot", "timestamp")


@router.get("/config", responses=answers(200, ConfigAnswer, 400, 404))
async def get_config(
    tenant: Tenant = Depends(tenant_from_query),
) -> dict[str, Any]:
    repo = tenant.repo
    config = await repo.config()
    if config is None:
        marker = await repo.bootstrap_marker()
        raise ApiError(
            404,
            f"It requires bootstrap. State: {marker or ''}",
            "No Repository Settings/Config found.",
        )
    return {"data": config.to_dict(), "message": "Current Settings"}


@router.put(
    "/config",
    status_code=202,
    openapi_extra=json_body_doc(ConfigUpdateRequest),
    responses=answers(202, TaskAcceptedAnswer, 400, 404, 409),
)
async def put_config(
    request: Request,
    tenant: Tenant = Depends(tenant_from_query),
) -> Any:
    repo = tenant.repo
    body = await read_json_object(request)
    settings = body.get("settings")
    expiration = settings.get("expiration") if isinstance(settings, dict) else None
    if not isinstance(expiration, dict) or not expiration:
        raise bad_request(
            'Invalid request: send {"settings": {"expiration": {"<role>": days}}} '
            "with at least one role."
        )
    config = await require_ready(repo)
    for role, days in expiration.items():
        if role == "root":
            raise bad_request("Root expiration cannot be changed here; rotate root instead")
        is_bins = role == BIN_PREFIX and config.hash_bins is not None
        if role not in CHANGEABLE_TOP_LEVEL and role not in config.delegated_roles and not is_bins:
            raise bad_request(f"Unknown role {role!r}: it is not a role of this repository")
        if (
            isinstance(days, bool)
            or not isinstance(days, int)
            or not 1 <= days <= MAX_EXPIRATION_DAYS
        ):
            raise bad_request(
                f"Expiration of {role!r} must be a whole number of days from 1 to "
                f"{MAX_EXPIRATION_DAYS}"
            )
    record = await tenant.submit("update_settings", {"expiration": expiration})
    return JSONResponse(
        {
            "data": {"task_id": record.task_id, "last_update": now_iso()},
            "message": "Settings successfully submitted.",
        },
        status_code=202,
    )
