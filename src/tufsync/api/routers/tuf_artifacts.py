"""Publishing artifacts into TUF and removing them from it
(:mod:`tufsync.operations.artifacts`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tufsync.api.deps import (
    Admin,
    current_admin,
    get_services,
    read_json_object,
    validate_model,
)
from tufsync.api.tuf_models import (
    DeleteArtifactsRequest,
    PublishNothingAnswer,
    PublishRequest,
    PublishStartedAnswer,
    route_doc,
    task_accepted,
)
from tufsync.operations import artifacts
from tufsync.services import Services

router = APIRouter(prefix="/tuf/v1/artifacts", tags=["tuf: artifacts"])


@router.post(
    "/publish",
    **route_doc(
        PublishStartedAnswer, 202, 400, 404, body=PublishRequest, s200=PublishNothingAnswer
    ),
)
async def publish(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> JSONResponse:
    body = validate_model(PublishRequest, await read_json_object(request))
    selection, record = await artifacts.accept_publish(services, admin, body)
    if record is None:
        return JSONResponse(
            {
                "data": {"app_id": body.app_id, "artifacts": [], "version": body.version},
                "message": "All artifacts are already signed",
            }
        )
    paths = [s["path"] for s in selection.specs]
    return task_accepted(
        record,
        "Artifact(s) publishing started",
        202,
        sort_keys=True,
        app_id=body.app_id,
        artifacts=paths,
        version=body.version,
    )


@router.post(
    "/delete", **route_doc(PublishStartedAnswer, 202, 400, 404, body=DeleteArtifactsRequest)
)
async def delete_from_tuf(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> JSONResponse:
    body = validate_model(DeleteArtifactsRequest, await read_json_object(request))
    paths, record = await artifacts.accept_removal(services, admin, body)
    return task_accepted(
        record,
        "Artifact(s) deletion started",
        202,
        sort_keys=True,
        app_id=body.id,
        artifacts=paths,
        version=body.version,
    )
