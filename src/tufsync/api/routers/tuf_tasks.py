"""Polling a task."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from tufsync.api.deps import Admin, current_admin, get_services
from tufsync.api.errors import bad_request, not_found
from tufsync.api.tuf_models import TaskAnswer, route_doc
from tufsync.auth.scope import require_app
from tufsync.services import Services

router = APIRouter(prefix="/tuf/v1", tags=["tuf: tasks"])


@router.get("/task", **route_doc(TaskAnswer, 200, 400, 404))
async def get_task(
    task_id: str | None = Query(default=None),
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> JSONResponse:
    if not task_id:
        raise bad_request("task_id query parameter is required")
    try:
        canonical = str(uuid.UUID(task_id))
    except ValueError:
        raise bad_request(f"task_id {task_id!r} is not a UUID") from None
    record = await services.records.get(canonical)
    if record is None or record.admin != admin.username:
        raise not_found("Task not found")
    require_app(record.app)
    # Rendered straight to JSON: a result listing thousands of hash bins would cost
    # the generic encoder a stall of the event loop on every poll.
    return JSONResponse({"data": record.public_view(), "message": "Task state."})
