"""Publishing artifacts into TUF and removing them from it.

Each route claims the target paths its task will touch (under the admin's
registry lock), so no upload or deletion races the queued task. A publish
reads the registry once, under that lock, in one query (version rows, unsigned
artifacts, claims) and claims its paths in one statement of the same transaction,
both in one greenlet on a plain connection (no ORM session).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tufsync import tenant_keys
from tufsync.api.deps import (
    Admin,
    current_admin,
    get_services,
    json_body_doc,
    read_json_object,
    validate_model,
)
from tufsync.api.errors import ApiError
from tufsync.api.repo_guard import require_bootstrapped
from tufsync.api.routers.registry import DeleteArtifactsBody, parse_indices
from tufsync.api.tuf_models import (
    DeleteArtifactsRequest,
    PublishNothingAnswer,
    PublishRequest,
    PublishStartedAnswer,
    answers,
)
from tufsync.db import queries
from tufsync.db.transactions import run_in_session
from tufsync.registry.publish import claim_publish
from tufsync.registry.service import owned_version, pick_artifacts, refuse_claimed
from tufsync.services import Services
from tufsync.state.locks import hold_lock
from tufsync.tasks.records import TaskRecord, now_iso
from tufsync.tasks.submit import submit_task

router = APIRouter(prefix="/tuf/v1/artifacts", tags=["tuf: artifacts"])


@router.post(
    "/publish",
    status_code=202,
    openapi_extra=json_body_doc(PublishRequest),
    responses=answers(202, PublishStartedAnswer, 400, 404, s200=PublishNothingAnswer),
)
async def publish(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> Any:
    body = validate_model(PublishRequest, await read_json_object(request))
    task_id = str(uuid.uuid4())
    # One read, under the registry lock: what is unsigned now, and unclaimed.
    async with (
        hold_lock(services.state, tenant_keys.registry_lock(admin.username)),
        services.transactions.begin() as tx,
    ):
        # Claims are inserted at once unless a path is claimed; a refusal below rolls back.
        selection = await claim_publish(tx, admin.id, body.app_id, body.version, task_id)
        await require_bootstrapped(services.tuf.repo(admin.username, selection.app_name))
        refuse_claimed(selection.claimed)
    if not selection.specs:
        return JSONResponse(
            {
                "data": {"app_id": body.app_id, "artifacts": [], "version": body.version},
                "message": "All artifacts are already signed",
            }
        )
    record = await submit_claimed(
        services,
        "add_artifacts",
        admin.username,
        selection.app_name,
        {
            "version_id": selection.version_ids[0],
            "version_ids": selection.version_ids,
            "artifacts": selection.specs,
        },
        task_id,
    )
    return JSONResponse(
        {
            "data": {
                "app_id": body.app_id,
                "artifacts": [s["path"] for s in selection.specs],
                "last_update": now_iso(),
                "task_id": record.task_id,
                "version": body.version,
            },
            "message": "Artifact(s) publishing started",
        },
        status_code=202,
    )


@router.post(
    "/delete",
    status_code=202,
    openapi_extra=json_body_doc(DeleteArtifactsRequest),
    responses=answers(202, PublishStartedAnswer, 400, 404),
)
async def delete_from_tuf(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> Any:
    body = validate_model(DeleteArtifactsBody, await read_json_object(request))
    indices = parse_indices(body.artifacts_to_delete)
    task_id = str(uuid.uuid4())
    async with (
        hold_lock(services.state, tenant_keys.registry_lock(admin.username)),
        services.sessions.begin() as session,
    ):
        version = await owned_version(
            session, admin.id, body.id, expect_app=body.app_name, expect_version=body.version
        )
        paths = [a.tuf_path for a in pick_artifacts(version, indices) if a.tuf_signed]
        if not paths:
            raise ApiError(400, "No valid artifacts to delete (all must be TUF signed)")
        await require_bootstrapped(services.tuf.repo(admin.username, body.app_name))
        refuse_claimed(await queries.claims_on(session, paths))
        await run_in_session(session, queries.insert_claims, paths, task_id)
    record = await submit_claimed(
        services,
        "remove_artifacts",
        admin.username,
        body.app_name,
        {"paths": paths, "version_id": body.id},
        task_id,
    )
    return JSONResponse(
        {
            "data": {
                "app_id": body.id,
                "artifacts": paths,
                "last_update": now_iso(),
                "task_id": record.task_id,
                "version": body.version,
            },
            "message": "Artifact(s) deletion started",
        },
        status_code=202,
    )


async def submit_claimed(
    services: Services,
    name: str,
    admin: str,
    app: str,
    params: dict[str, Any],
    task_id: str,
) -> TaskRecord:
    """Submit a task whose paths are claimed; drop the claims if it is not accepted."""
    try:
        return await submit_task(services, name, admin, app, params, task_id=task_id)
    except BaseException:
        await services.transactions.run(queries.release_claims, [task_id])
        raise
