"""Force a re-signing of online metadata (seed: Force Metadata Update)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from tufsync.api.deps import Tenant, json_body_doc, read_json_object, tenant_from_query
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.repo_guard import require_ready
from tufsync.api.tuf_models import OnlineUpdateRequest, TaskAcceptedAnswer, answers
from tufsync.tasks.records import now_iso

router = APIRouter(prefix="/tuf/v1", tags=["tuf: online metadata"])


@router.post(
    "/metadata/online",
    openapi_extra=json_body_doc(OnlineUpdateRequest),
    responses=answers(200, TaskAcceptedAnswer, 400, 404, 409),
)
async def force_online_update(
    request: Request,
    tenant: Tenant = Depends(tenant_from_query),
) -> dict[str, Any]:
    repo = tenant.repo
    raw = await request.body()
    body = await read_json_object(request) if raw.strip() else {}
    roles = body.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise bad_request("roles must be a list of role names")
    if "root" in roles:
        raise bad_request("Root role cannot be updated via this endpoint")
    config = await require_ready(repo)
    if not roles:
        roles = ["snapshot", "timestamp"] + (["targets"] if config.targets_online_key else [])
    for role in roles:
        if role == "targets" and not config.targets_online_key:
            raise ApiError(
                404,
                "Targets is an offline role - use other endpoint to update",
                "Task not accepted.",
            )
        if role not in ("targets", "snapshot", "timestamp") and not config.is_delegated(role):
            raise bad_request(f"Unknown role {role!r}: it is not an online role of this repository")
    ordered = list(dict.fromkeys(roles))
    record = await tenant.submit("force_online_metadata_update", {"roles": ordered})
    return {
        "data": {"task_id": record.task_id, "last_update": now_iso()},
        "message": "Force online metadata update accepted.",
    }
