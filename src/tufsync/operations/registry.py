"""Registry operations ("normal API"): create and edit apps, edit a version (and add
files to it), and the deletions, which start the removal from TUF of what was signed.

Shapes follow faynoSync's server (``server/handler/…``). The request models are
the parsers of the form fields; the refusals keep faynoSync's sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from tufsync.db import queries
from tufsync.db.models import App, Version
from tufsync.names import check_app_name, check_segment, check_updater
from tufsync.operations.accept import Actor
from tufsync.operations.artifacts import DeleteArtifactsRequest
from tufsync.operations.refusal import ApiError, bad_request
from tufsync.registry.service import (
    NamedUpload,
    RegistryError,
    UploadMeta,
    changelog_entry,
    delete_app,
    delete_artifacts,
    owned_version,
    upload_artifacts,
)
from tufsync.tasks.contract import TaskContext


class CreateAppRequest(BaseModel):
    app: str = ""
    description: str = Field(default="", max_length=1024)
    private: bool = False
    tuf: bool = False
    reports: bool = False
    cdn: bool = False


class UpdateAppRequest(BaseModel):
    id: str = ""
    app: str = ""
    description: str = Field(default="", max_length=1024)
    private: bool | None = None
    tuf: bool = False
    reports: bool | None = None
    cdn: bool | None = None


class UpdateVersionRequest(BaseModel):
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


async def create_app(ctx: TaskContext, actor: Actor, body: CreateAppRequest) -> str:
    """The new app's id; 409 when the admin has an app of that name."""
    if not body.app:
        raise bad_request("app is required")
    check_app_name(body.app, "app")
    try:
        async with ctx.sessions.begin() as session:
            if await queries.get_app(session, actor.id, body.app) is not None:
                raise ApiError(409, f"App {body.app!r} already exists")
            app = App(
                id=queries.new_id(),
                owner_id=actor.id,
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
    return app.id


def _edit_app(app: App, body: UpdateAppRequest) -> None:
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


async def update_app(ctx: TaskContext, actor: Actor, body: UpdateAppRequest) -> None:
    if not body.id:
        raise bad_request("id is required")
    if not body.app:
        raise bad_request("app is required")
    async with ctx.sessions.begin() as session:
        app = await queries.get_app_by_id(session, actor.id, body.id)
        if app is None:
            raise ApiError(404, "app not found")
        _edit_app(app, body)


def changelog_with(
    entries: list[dict[str, str]], version: str, changes: str
) -> list[dict[str, str]]:
    """faynoSync's rule: replace the entry of this version, else append one."""
    out = [dict(e) for e in entries]
    for entry in out:
        if entry.get("Version") == version:
            entry.update(changelog_entry(version, changes))
            return out
    return [*out, changelog_entry(version, changes)]


def _edit_version(version: Version, body: UpdateVersionRequest) -> None:
    if body.channel != version.channel:
        raise RegistryError(400, "updating the channel is not allowed")
    flags = {
        "published": body.publish,
        "critical": body.critical,
        "intermediate": body.intermediate,
    }
    for name, value in flags.items():
        if value is not None:
            setattr(version, name, value)
    if body.changelog:
        version.changelog = changelog_with(
            list(version.changelog or []), version.version, body.changelog
        )
    queries.touch(version)


async def update_version(
    ctx: TaskContext, actor: Actor, body: UpdateVersionRequest, files: Sequence[NamedUpload]
) -> None:
    """Edit a version's flags and changelog; ``files`` are added to it as uploads."""
    check_updater(body.updater)
    async with ctx.sessions.begin() as session:
        version = await owned_version(
            session, actor.id, body.id, expect_app=body.app_name, expect_version=body.version
        )
        _edit_version(version, body)
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
        await upload_artifacts(ctx, actor.id, actor.username, meta, files)


def with_task(answer: dict[str, Any], task_id: str | None) -> dict[str, Any]:
    """A deletion's answer, naming the task that removes signed artifacts from TUF."""
    return {**answer, "task_id": task_id} if task_id else answer


async def delete_one_app(ctx: TaskContext, actor: Actor, app_id: str | None) -> dict[str, Any]:
    if not app_id:
        raise bad_request("id (the app id) is required")
    task_id = await delete_app(ctx, actor.id, actor.username, app_id)
    return with_task({"deleteAppResult.DeletedCount": 1}, task_id)


async def delete_version(ctx: TaskContext, actor: Actor, version_id: str | None) -> dict[str, Any]:
    if not version_id:
        raise bad_request("id (the version id) is required")
    task_id = await delete_artifacts(ctx, actor.id, actor.username, version_id, None)
    return with_task({"deleteSpecificAppResult.DeletedCount": 1}, task_id)


async def delete_some_artifacts(
    ctx: TaskContext, actor: Actor, body: DeleteArtifactsRequest
) -> dict[str, Any]:
    task_id = await delete_artifacts(
        ctx,
        actor.id,
        actor.username,
        body.id,
        body.indices(),
        expect_app=body.app_name,
        expect_version=body.version,
    )
    return with_task({"deleteSpecificArtifactResult": True}, task_id)
