"""Publishing artifacts into TUF and removing them from it
(:mod:`tufsync.operations.artifacts`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tufsync.api.deps import Caller, read_json_object, the_caller, validate_model
from tufsync.api.tuf_models import (
    DeleteArtifactsRequest,
    PublishNothingAnswer,
    PublishRequest,
    PublishStartedAnswer,
    route_doc,
    task_accepted,
)
from tufsync.operations import artifacts
from tufsync.tasks.records import TaskRecord

router = APIRouter(prefix="/tuf/v1/artifacts", tags=["tuf: artifacts"])


@router.post(
    "/publish",
    **route_doc(
        PublishStartedAnswer, 202, 400, 404, body=PublishRequest, s200=PublishNothingAnswer
    ),
)
async def publish(request: Request, caller: Caller = Depends(the_caller)) -> JSONResponse:
    body = validate_model(PublishRequest, await read_json_object(request))
    selection, record = await artifacts.accept_publish(caller.services, caller.admin, body)
    if record is None:
        return JSONResponse(
            {
                "data": {"app_id": body.app_id, "artifacts": [], "version": body.version},
                "message": "All artifacts are already signed",
            }
        )
    paths = [s["path"] for s in selection.specs]
    return _started(record, "Artifact(s) publishing started", body.app_id, paths, body.version)


@router.post(
    "/delete", **route_doc(PublishStartedAnswer, 202, 400, 404, body=DeleteArtifactsRequest)
)
async def delete_from_tuf(request: Request, caller: Caller = Depends(the_caller)) -> JSONResponse:
    body = validate_model(DeleteArtifactsRequest, await read_json_object(request))
    paths, record = await artifacts.accept_removal(caller.services, caller.admin, body)
    return _started(record, "Artifact(s) deletion started", body.id, paths, body.version)


def _started(
    record: TaskRecord, message: str, app_id: str, paths: list[str], version: str
) -> JSONResponse:
    """The publish and deletion answer: the task, and what it works on (keys in name order)."""
    data = {"app_id": app_id, "artifacts": paths, "version": version}
    return task_accepted(record, message, 202, sort_keys=True, **data)
