"""The app registry ("normal API"): apps, uploads, search, deletions."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import IntegrityError

from tufsync.api.deps import Admin, current_admin, get_services, validate_model
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.forms import limit_body, read_fields
from tufsync.db import queries
from tufsync.db.models import App
from tufsync.names import (
    DEFAULT_ARCH,
    DEFAULT_CHANNEL,
    DEFAULT_PLATFORM,
    InvalidName,
    check_app_name,
    check_segment,
    check_version,
)
from tufsync.registry.service import (
    UploadMeta,
    delete_artifacts,
    upload_artifacts,
)
from tufsync.registry.uploads import UploadTooLarge
from tufsync.registry.views import app_view, version_view
from tufsync.services import Services

router = APIRouter(tags=["registry"])


class CreateAppBody(BaseModel):
    app: str
    description: str = Field(default="", max_length=1024)


class UploadBody(BaseModel):
    app_name: str
    version: str
    channel: str = ""
    platform: str = ""
    arch: str = ""
    publish: bool = False
    critical: bool = False
    changelog: str = Field(default="", max_length=65536)


class DeleteArtifactsBody(BaseModel):
    id: str
    app_name: str
    version: str
    artifacts_to_delete: list[str]

    @field_validator("artifacts_to_delete", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return [value]
        return value


def parse_indices(values: list[str]) -> list[int]:
    out = []
    for value in values:
        if not str(value).isdigit():
            raise bad_request(f"artifacts_to_delete holds {value!r}, which is not an index")
        out.append(int(value))
    if not out:
        raise bad_request("artifacts_to_delete must name at least one artifact index")
    return out


@router.post("/app/create")
async def create_app(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, str]:
    fields, _ = await read_fields(request)
    body = validate_model(CreateAppBody, fields)
    check_app_name(body.app, "app")
    try:
        async with services.sessions.begin() as session:
            if await queries.get_app(session, admin.id, body.app) is not None:
                raise ApiError(409, f"App {body.app!r} already exists")
            app = App(
                id=queries.new_id(), owner_id=admin.id, name=body.app, description=body.description
            )
            session.add(app)
    except IntegrityError:
        raise ApiError(409, f"App {body.app!r} already exists") from None
    return {"createAppResult.Created": app.id}


@router.get("/app/list")
async def list_apps(
    admin: Admin = Depends(current_admin), services: Services = Depends(get_services)
) -> dict[str, Any]:
    async with services.sessions() as session:
        apps = await queries.list_apps(session, admin.id)
    return {"apps": [app_view(a) for a in apps]}


@router.post("/upload")
async def upload(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, str]:
    limit = services.settings.max_upload_bytes
    fields, files = await read_fields(limit_body(request, limit + 1024 * 1024), allow_files=True)
    try:
        body = validate_model(UploadBody, fields)
        if not files:
            raise bad_request("Invalid request: attach at least one file part named 'file'.")
        meta = UploadMeta(
            app_name=check_app_name(body.app_name, "app_name"),
            version=check_version(body.version),
            channel=check_segment(body.channel, "channel", DEFAULT_CHANNEL),
            platform=check_segment(body.platform, "platform", DEFAULT_PLATFORM),
            arch=check_segment(body.arch, "arch", DEFAULT_ARCH),
            publish=body.publish,
            critical=body.critical,
            changelog=body.changelog,
        )
        version_id = await upload_artifacts(services, admin.id, admin.username, meta, files)
    except UploadTooLarge:
        raise ApiError(413, f"Upload is larger than the server's limit of {limit} bytes") from None
    finally:
        for file in files:
            await file.close()
    return {"uploadResult.Uploaded": version_id}


def _optional_bool(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_request(f"{name} must be true or false")


@router.get("/search")
async def search(
    app_name: str | None = Query(default=None),
    channel: str | None = Query(default=None),
    platform: str | None = Query(default=None),
    arch: str | None = Query(default=None),
    published: str | None = Query(default=None),
    limit: str | None = Query(default=None),
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    try:
        if app_name:
            check_app_name(app_name, "app_name")
        filters = {
            name: check_segment(value, name, "") or None if value else None
            for name, value in (("channel", channel), ("platform", platform), ("arch", arch))
        }
    except InvalidName as exc:
        raise bad_request(str(exc)) from None
    if limit is None or limit == "":
        count = 100
    elif limit.isdigit() and 1 <= int(limit) <= 1000:
        count = int(limit)
    else:
        raise bad_request("limit must be a whole number from 1 to 1000")
    async with services.sessions() as session:
        versions = await queries.search_versions(
            session,
            admin.id,
            app_name=app_name or None,
            channel=filters["channel"],
            platform=filters["platform"],
            arch=filters["arch"],
            published=_optional_bool(published, "published"),
            limit=count,
        )
    public_url = services.settings.resolved_public_url
    return {"apps": [version_view(v, public_url) for v in versions]}


@router.post("/artifact/delete")
async def delete_artifact(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    fields, _ = await read_fields(request)
    body = validate_model(DeleteArtifactsBody, fields)
    indices = parse_indices(body.artifacts_to_delete)
    task_id = await delete_artifacts(
        services,
        admin.id,
        admin.username,
        body.id,
        indices,
        expect_app=body.app_name,
        expect_version=body.version,
    )
    out: dict[str, Any] = {"deleteSpecificArtifactResult": True}
    if task_id:
        out["task_id"] = task_id
    return out


@router.delete("/apps/delete")
async def delete_version(
    id: str | None = Query(default=None),
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    if not id:
        raise bad_request("id (the version id) is required")
    task_id = await delete_artifacts(services, admin.id, admin.username, id, None)
    out: dict[str, Any] = {"deleteSpecificAppResult": True}
    if task_id:
        out["task_id"] = task_id
    return out
