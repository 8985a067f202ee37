"""The app registry ("normal API"): apps, uploads, search, version edit and deletions.

Shapes follow faynoSync's server (``server/handler/…``); API tokens may use
``/upload`` and ``/search`` only, within the apps they cover.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import IntegrityError

from tufsync.api.deps import Admin, current_admin, get_services, validate_model
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.forms import limit_body, read_fields
from tufsync.api.jsonsafe import JsonProblem, parse_json
from tufsync.api.quota_guard import admit_upload
from tufsync.auth.scope import require_app
from tufsync.db import queries
from tufsync.db.models import App
from tufsync.names import (
    InvalidName,
    check_app_name,
    check_segment,
    check_updater,
    check_version,
)
from tufsync.registry.service import (
    RegistryError,
    UploadMeta,
    changelog_entry,
    delete_app,
    delete_artifacts,
    owned_version,
    upload_artifacts,
)
from tufsync.registry.uploads import UploadTooLarge
from tufsync.registry.views import app_view, version_view
from tufsync.services import Services

router = APIRouter(tags=["registry"])

SEARCH_DEFAULT_LIMIT = 9  # faynoSync's GetAppByName default
SEARCH_MAX_LIMIT = 1000


class CreateAppBody(BaseModel):
    app: str = ""
    description: str = Field(default="", max_length=1024)
    private: bool = False
    tuf: bool = False
    reports: bool = False
    cdn: bool = False


class UpdateAppBody(BaseModel):
    id: str = ""
    app: str = ""
    description: str = Field(default="", max_length=1024)
    private: bool | None = None
    tuf: bool = False
    reports: bool | None = None
    cdn: bool | None = None


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


class UpdateVersionBody(BaseModel):
    id: str
    app_name: str
    version: str
    channel: str = ""
    platform: str | None = None
    arch: str | None = None
    publish: bool | None = None
    critical: bool | None = None
    intermediate: bool | None = None
    changelog: str | None = Field(default=None, max_length=65536)
    updater: str = ""


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
                return parse_json(value)
            except JsonProblem:
                return [value]
        return value


def _is_number(value: str) -> bool:
    """ASCII digits only ("²".isdigit() is true, but int("²") fails)."""
    return value.isascii() and value.isdigit() and len(value) <= 12


def parse_indices(values: list[str]) -> list[int]:
    out = []
    for value in values:
        if not _is_number(str(value)):
            raise bad_request(f"artifacts_to_delete holds {value!r}, which is not an index")
        out.append(int(value))
    if not out:
        raise bad_request("artifacts_to_delete must name at least one artifact index")
    return out


AppBody = TypeVar("AppBody", bound=BaseModel)


async def read_app_form(request: Request, model: type[AppBody]) -> AppBody:
    """The app description of /app/create and /app/update; a logo file part is accepted
    and discarded (logos are not stored, the dashboard shows none)."""
    fields, logo = await read_fields(request, allow_files=True)
    for file in logo:
        await file.close()
    return validate_model(model, fields)


@router.post("/app/create")
async def create_app(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, str]:
    body = await read_app_form(request, CreateAppBody)
    if not body.app:
        raise bad_request("app is required")
    check_app_name(body.app, "app")
    try:
        async with services.sessions.begin() as session:
            if await queries.get_app(session, admin.id, body.app) is not None:
                raise ApiError(409, f"App {body.app!r} already exists")
            app = App(
                id=queries.new_id(),
                owner_id=admin.id,
                name=body.app,
                description=body.description,
                private=body.private,
                tuf=body.tuf,
                reports=body.reports,
                cdn_edge=body.cdn,
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
    return {"apps": [app_view(a, admin.username) for a in apps]}


@router.post("/app/update")
async def update_app(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, bool]:
    body = await read_app_form(request, UpdateAppBody)
    if not body.id:
        raise bad_request("id is required")
    if not body.app:
        raise bad_request("app is required")
    async with services.sessions.begin() as session:
        app = await queries.get_app_by_id(session, admin.id, body.id)
        if app is None:
            raise ApiError(404, "app not found")
        if body.app != app.name:
            raise bad_request(
                f"Renaming app {app.name!r} is not offered: its artifacts' paths and its TUF "
                "repository are named after it; create a new app instead"
            )
        app.description = body.description
        app.tuf = body.tuf
        if body.private is not None:
            app.private = body.private
        if body.reports is not None:
            app.reports = body.reports
        if body.cdn is not None:
            app.cdn_edge = body.cdn
        queries.touch(app)
    return {"updateAppResult.Updated": True}


@router.delete("/app/delete")
async def delete_app_route(
    id: str | None = Query(default=None),
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    if not id:
        raise bad_request("id (the app id) is required")
    task_id = await delete_app(services, admin.id, admin.username, id)
    out: dict[str, Any] = {"deleteAppResult.DeletedCount": 1}
    if task_id:
        out["task_id"] = task_id
    return out


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
async def upload(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, str]:
    limit = services.settings.max_upload_bytes
    request, budget = await admit_upload(request, services, admin.id)
    fields, files = await read_fields(limit_body(request, limit + 1024 * 1024), allow_files=True)
    try:
        meta = upload_meta(validate_model(UploadBody, fields))
        if not files:
            raise bad_request("Invalid request: attach at least one file part named 'file'.")
        require_app(meta.app_name)
        version_id = await upload_artifacts(services, admin.id, admin.username, meta, files, budget)
    except UploadTooLarge:
        raise ApiError(413, f"Upload is larger than the server's limit of {limit} bytes") from None
    finally:
        for file in files:
            await file.close()
    return {"uploadResult.Uploaded": version_id}


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
    if not _is_number(value) or not 1 <= int(value) <= maximum:
        raise bad_request(f"{name} must be a whole number from 1 to {maximum}")
    return int(value)


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
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    try:
        if app_name:
            check_app_name(app_name, "app_name")
        filters = queries.VersionFilters(
            app_name=app_name or None,
            channel=check_segment(channel or "", "channel") or None,
            platform=check_segment(platform or "", "platform") or None,
            arch=check_segment(arch or "", "arch") or None,
            published=_optional_bool(published, "published"),
            critical=_optional_bool(critical, "critical"),
        )
    except InvalidName as exc:
        raise bad_request(str(exc)) from None
    if app_name:
        require_app(app_name)
    page_no = _positive(page, "page", 1, 1_000_000)
    count = _positive(limit, "limit", SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT)
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


def _changelog_with(
    entries: list[dict[str, str]], version: str, changes: str
) -> list[dict[str, str]]:
    """faynoSync's rule: replace the entry of this version, else append one."""
    out = [dict(e) for e in entries]
    for entry in out:
        if entry.get("Version") == version:
            entry.update(changelog_entry(version, changes))
            return out
    return [*out, changelog_entry(version, changes)]


@router.post("/apps/update")
async def update_version(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> dict[str, bool]:
    limit = services.settings.max_upload_bytes
    fields, files = await read_fields(limit_body(request, limit + 1024 * 1024), allow_files=True)
    try:
        body = validate_model(UpdateVersionBody, fields)
        check_updater(body.updater)
        async with services.sessions.begin() as session:
            version = await owned_version(
                session, admin.id, body.id, expect_app=body.app_name, expect_version=body.version
            )
            if body.channel != version.channel:
                raise RegistryError(400, "updating the channel is not allowed")
            if body.publish is not None:
                version.published = body.publish
            if body.critical is not None:
                version.critical = body.critical
            if body.intermediate is not None:
                version.intermediate = body.intermediate
            if body.changelog:
                version.changelog = _changelog_with(
                    list(version.changelog or []), version.version, body.changelog
                )
            queries.touch(version)
        if files:
            meta = UploadMeta(
                app_name=body.app_name,
                version=body.version,
                channel=version.channel,
                platform=check_segment(body.platform or "", "platform"),
                arch=check_segment(body.arch or "", "arch"),
                publish=False,
                critical=False,
                changelog="",
            )
            await upload_artifacts(services, admin.id, admin.username, meta, files)
    except UploadTooLarge:
        raise ApiError(413, f"Upload is larger than the server's limit of {limit} bytes") from None
    finally:
        for file in files:
            await file.close()
    return {"updatedResult.Updated": True}


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
    out: dict[str, Any] = {"deleteSpecificAppResult.DeletedCount": 1}
    if task_id:
        out["task_id"] = task_id
    return out
