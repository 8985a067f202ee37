"""Expiry warnings and the status of a repository (beyond faynoSync's API).

``GET /tuf/v1/expiry`` lists the caller's offline roles (root, offline
targets, offline delegated roles) that expire within the warning horizon,
for one app (``appName``) or all of the caller's apps. ``GET /tuf/v1/status``
is what ``tufsync status`` shows. Another admin's app answers like a missing one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from tufsync.api.deps import Caller, app_name_param, the_caller
from tufsync.api.errors import ApiError
from tufsync.services import Services
from tufsync.tasks.submit import recent_task_ids
from tufsync.tuf.errors import NotBootstrapped
from tufsync.tuf.expiry import (
    ExpiryWarning,
    admin_schedules,
    drafts_pending,
    dumps_expires,
    warnings_of,
)
from tufsync.tuf.signing_flow import pending
from tufsync.tuf.status import alerts, draft_statuses, role_statuses

router = APIRouter(prefix="/tuf/v1", tags=["tuf: expiry and status"])


class ExpiryItem(BaseModel):
    app: str = Field(description="The app whose repository holds the role")
    role: str = Field(description="root, targets or a delegated role signed offline")
    expires: str = Field(description="Expiry as written in the metadata (YYYY-MM-DDTHH:MM:SSZ)")
    days_left: float = Field(description="Days until expiry; negative once expired")
    expired: bool
    renewal_pending: bool = Field(
        description="A draft of the role awaits its key holders' signatures: signed, it "
        "renews the role (until then the role keeps its expiry)"
    )


class ExpiryData(BaseModel):
    horizon_days: int = Field(description="Roles expiring within this many days are listed")
    warnings: list[ExpiryItem]


class ExpiryResponse(BaseModel):
    data: ExpiryData
    message: str


class RoleItem(BaseModel):
    version: int
    expires: str | None
    signing: str = Field(description="online (refreshed by the service) or offline")


class TaskItem(BaseModel):
    task_id: str
    task: str
    state: str
    last_update: str
    error: str | None = None


class DraftItem(BaseModel):
    role: str
    kind: str = Field(
        description="rotation (new keys), release (artifacts published or removed) or "
        "renewal (the trusted content with a new expiry)"
    )
    version: int = Field(description="The version the draft publishes once signed")
    expires: str


class StatusData(BaseModel):
    app: str
    roles: dict[str, RoleItem]
    settings: dict[str, Any]
    pending_drafts: list[str]
    drafts: list[DraftItem] = Field(description="The pending drafts, with their kind")
    alerts: list[str] = Field(
        description="What needs attention: expired roles the published metadata points "
        "at, and guarantees the repository's key layout cannot give"
    )
    recent_tasks: list[TaskItem]
    expiry: ExpiryData


class StatusResponse(BaseModel):
    data: StatusData
    message: str


def _item(warning: ExpiryWarning, pending: set[tuple[str, str, str]]) -> ExpiryItem:
    return ExpiryItem(
        app=warning.app,
        role=warning.role,
        expires=dumps_expires(warning.expires),
        days_left=round(warning.seconds_left / 86400, 2),
        expired=warning.expired,
        renewal_pending=(warning.admin, warning.app, warning.role) in pending,
    )


def _not_found(app: str) -> ApiError:
    return ApiError(404, f"No TUF repository for app {app!r}: it requires bootstrap.")


async def _expiry(services: Services, admin: str, app: str | None, now: datetime) -> ExpiryData:
    schedules = await admin_schedules(services.state, admin)
    if app is not None:
        schedules = [s for s in schedules if s.app == app]
        if not schedules:
            raise _not_found(app)
    days = services.settings.expiry_warning_days
    found = warnings_of(schedules, now, timedelta(days=days))
    pending = await drafts_pending(services.state, schedules) if found else set()
    return ExpiryData(horizon_days=days, warnings=[_item(w, pending) for w in found])


@router.get("/expiry", response_model=ExpiryResponse)
async def get_expiry(
    appName: str | None = Query(default=None, description="One app; leave out for all"),
    caller: Caller = Depends(the_caller),
) -> ExpiryResponse:
    """Offline roles of the caller's repositories expiring within the warning horizon."""
    services, admin = caller.services, caller.admin
    app = None if appName is None else app_name_param(appName)
    data = await _expiry(services, admin.username, app, services.tuf.clock())
    count = len(data.warnings)
    message = (
        f"{count} offline role(s) expire within {data.horizon_days} days."
        if count
        else f"No offline role expires within {data.horizon_days} days."
    )
    return ExpiryResponse(data=data, message=message)


@router.get("/status", response_model=StatusResponse)
async def get_status(
    appName: str | None = Query(default=None, description="The app's repository"),
    caller: Caller = Depends(the_caller),
) -> StatusResponse:
    """Versions and expiry of every role, settings, drafts, recent tasks, expiry warnings."""
    app = app_name_param(appName)
    services, admin = caller.services, caller.admin
    repo = services.tuf.repo(admin.username, app)
    try:
        roles = await role_statuses(repo)
        config = await repo.require_config()
    except NotBootstrapped:
        raise _not_found(app) from None
    drafts = await pending(repo, config)
    now = services.tuf.clock()
    records = await services.records.get_many(await recent_task_ids(services, admin.username, app))
    tasks = [
        TaskItem(
            task_id=r.task_id,
            task=r.name,
            state=r.state,
            last_update=r.updated_at,
            error=(r.result or {}).get("error"),
        )
        for r in sorted(records, key=lambda r: r.created_at, reverse=True)
        if r.admin == admin.username and r.app == app
    ]
    data = StatusData(
        app=app,
        roles={
            s.role: RoleItem(
                version=s.version,
                expires=None if s.expires is None else dumps_expires(s.expires),
                signing=s.signing,
            )
            for s in roles
        },
        settings=config.to_dict(),
        pending_drafts=sorted(drafts),
        drafts=[
            DraftItem(role=d.role, kind=d.kind, version=d.version, expires=dumps_expires(d.expires))
            for d in draft_statuses(drafts)
        ],
        alerts=alerts(roles, drafts, config, now),
        recent_tasks=tasks,
        expiry=await _expiry(services, admin.username, app, now),
    )
    return StatusResponse(data=data, message="Repository status.")
