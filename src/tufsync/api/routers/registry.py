"""The app registry ("normal API"): apps, uploads, search, version edit and deletions.

Shapes follow faynoSync's server (``server/handler/…``); API tokens may use
``/upload`` and ``/search`` only, within the apps they cover.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from tufsync.api.deps import Caller, the_caller, validate_model
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.forms import limit_body, read_fields
from tufsync.api.quota_guard import admit_upload
from tufsync.auth.scope import require_app
from tufsync.db import queries
from tufsync.names import (
    InvalidName,
    check_app_name,
    check_segment,
    check_updater,
    check_version,
)
from tufsync.operations import registry
from tufsync.operations.artifacts import DeleteArtifactsRequest, is_number
from tufsync.registry.service import (
    UploadMeta,
    upload_artifacts,
)
from tufsync.registry.uploads import UploadTooLarge
from tufsync.registry.views import app_view, version_view

router = APIRouter(tags=["registry"])

SEARCH_DEFAULT_LIMIT = 9  # faynoSync's GetAppByName default
SEARCH_MAX_LIMIT = 1000


class UploadBody(BaseModel):
    app_name: str
    version: str
    channel: str = ""
    platform: str = ""
    arch: str = ""
    publish: bool = False
    critical: bool = False
    intermediate: bool = False
    changelog: str = Field(default="", max_length=65536)
    updater: str = ""


AppBody = TypeVar("AppBody", bound=BaseModel)


async def read_app_form(request: Request, model: type[AppBody]) -> AppBody:
    """The app description of /app/create and /app/update; a logo file part is accepted
    and discarded (logos are not stored, the dashboard shows none)."""
    fields, logo = await read_fields(request, allow_files=True)
    for file in logo:
        await file.close()
    return validate_model(model, fields)


@router.post("/app/create")
async def create_app(request: Request, caller: Caller = Depends(the_caller)) -> dict[str, str]:
    body = await read_app_form(request, registry.CreateAppRequest)
    return {
        "createAppResult.Created": await registry.create_app(caller.services, caller.admin, body)
    }


@router.get("/app/list")
async def list_apps(caller: Caller = Depends(the_caller)) -> dict[str, Any]:
    async with caller.services.sessions() as session:
        apps = await queries.list_apps(session, caller.admin.id)
    return {"apps": [app_view(a, caller.admin.username) for a in apps]}


@router.post("/app/update")
async def update_app(request: Request, caller: Caller = Depends(the_caller)) -> dict[str, bool]:
    body = await read_app_form(request, registry.UpdateAppRequest)
    await registry.update_app(caller.services, caller.admin, body)
    return {"updateAppResult.Updated": True}


@router.delete("/app/delete")
async def delete_app_route(
    id: str | None = Query(default=None), caller: Caller = Depends(the_caller)
) -> dict[str, Any]:
    return await registry.delete_one_app(caller.services, caller.admin, id)


def upload_meta(body: UploadBody) -> UploadMeta:
    check_updater(body.updater)
    return UploadMeta(
        app_name=check_app_name(body.app_name, "app_name"),
        version=check_version(body.version),
        channel=check_segment(body.channel, "channel"),
        platform=check_segment(body.platform, "platform"),
        arch=check_segment(body.arch, "arch"),
        publish=body.publish,
        critical=body.critical,
        intermediate=body.intermediate,
        changelog=body.changelog,
    )


@router.post("/upload")
async def upload(request: Request, caller: Caller = Depends(the_caller)) -> dict[str, str]:
    services, admin = caller.services, caller.admin
    request, budget = await admit_upload(request, services, admin.id)
    async with upload_form(request, services.settings.max_upload_bytes) as (fields, files):
        meta = upload_meta(validate_model(UploadBody, fields))
        if not files:
            raise bad_request("Invalid request: attach at least one file part named 'file'.")
        require_app(meta.app_name)
        version_id = await upload_artifacts(services, admin.id, admin.username, meta, files, budget)
    return {"uploadResult.Uploaded": version_id}


@asynccontextmanager
async def upload_form(
    request: Request, limit: int
) -> AsyncIterator[tuple[dict[str, Any], list[UploadFile]]]:
    """The fields and files of a form carrying uploads of at most ``limit`` bytes;
    413 past it. The files are closed at the end of the block."""
    fields, files = await read_fields(limit_body(request, limit + 1024 * 1024), allow_files=True)
    try:
        yield fields, files
    except UploadTooLarge:
        raise ApiError(413, f"Upload is larger than the server's limit of {limit} bytes") from None
    finally:
        for file in files:
            await file.close()


_TRUE = ("1", "t", "true")
_FALSE = ("0", "f", "false")


def _optional_bool(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise bad_request(f"{name} must be true or false")


def _positive(value: str | None, name: str, default: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    if not is_number(value) or not 1 <= int(value) <= maximum:
        raise bad_request(f"{name} must be a whole number from 1 to {maximum}")
    return int(value)


def _app_filter(app_name: str | None) -> str | None:
    return check_app_name(app_name, "app_name") if app_name else None


def _segment_filter(value: str | None, name: str) -> str | None:
    return check_segment(value or "", name) or None


@router.get("/search")
async def search(
    app_name: str | None = Query(default=None),
    channel: str | None = Query(default=None),
    platform: str | None = Query(default=None),
    arch: str | None = Query(default=None),
    published: str | None = Query(default=None),
    critical: str | None = Query(default=None),
    page: str | None = Query(default=None),
    limit: str | None = Query(default=None),
    caller: Caller = Depends(the_caller),
) -> dict[str, Any]:
    try:
        filters = queries.VersionFilters(
            app_name=_app_filter(app_name),
            channel=_segment_filter(channel, "channel"),
            platform=_segment_filter(platform, "platform"),
            arch=_segment_filter(arch, "arch"),
            published=_optional_bool(published, "published"),
            critical=_optional_bool(critical, "critical"),
        )
    except InvalidName as exc:
        raise bad_request(str(exc)) from None
    if filters.app_name:
        require_app(filters.app_name)
    page_no = _positive(page, "page", 1, 1_000_000)
    count = _positive(limit, "limit", SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT)
    services, admin = caller.services, caller.admin
    async with services.sessions() as session:
        versions, total = await queries.search_versions(
            session,
            admin.id,
            app_names=admin.token_apps,
            filters=filters,
            page=page_no,
            limit=count,
        )
    public_url = services.settings.resolved_public_url
    return {
        "items": [version_view(v, public_url) for v in versions],
        "total": total,
        "page": page_no,
        "limit": count,
    }


@router.post("/apps/update")
async def update_version(request: Request, caller: Caller = Depends(the_caller)) -> dict[str, bool]:
    limit = caller.services.settings.max_upload_bytes
    async with upload_form(request, limit) as (fields, files):
        body = validate_model(registry.UpdateVersionRequest, fields)
        await registry.update_version(caller.services, caller.admin, body, files)
    return {"updatedResult.Updated": True}


@router.post("/artifact/delete")
async def delete_artifact(request: Request, caller: Caller = Depends(the_caller)) -> dict[str, Any]:
    fields, _ = await read_fields(request)
    body = validate_model(DeleteArtifactsRequest, fields)
    return await registry.delete_some_artifacts(caller.services, caller.admin, body)


@router.delete("/apps/delete")
async def delete_version(
    id: str | None = Query(default=None), caller: Caller = Depends(the_caller)
) -> dict[str, Any]:
    return await registry.delete_version(caller.services, caller.admin, id)
