"""The admin's catalogues of channels, platforms and archs (faynoSync's ``/channel/*``,
``/platform/*``, ``/arch/*``), which the dashboard's upload form and filters list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from tufsync.api.deps import Caller, read_json_object, the_caller, validate_model
from tufsync.api.errors import ApiError, bad_request
from tufsync.db import queries
from tufsync.db.models import CatalogItem, utcnow
from tufsync.names import InvalidName, check_segment
from tufsync.registry.views import catalog_view

router = APIRouter(tags=["registry: catalogues"])

KINDS = ("channel", "platform", "arch")
LIST_KEYS = {"channel": "channels", "platform": "platforms", "arch": "archs"}
UPDATER_TYPES = (
    "manual",
    "squirrel_darwin",
    "squirrel_windows",
    "sparkle",
    "electron-builder",
    "tauri",
    "velopack",
)


class Updater(BaseModel):
    type: str
    default: bool = False


class CatalogBody(BaseModel):
    id: str = ""
    channel: str = ""
    platform: str = ""
    arch: str = ""
    updaters: list[Updater] | None = None


def _name(body: CatalogBody, kind: str) -> str:
    value: str = getattr(body, kind)
    if not value:
        raise bad_request("Invalid request body")
    try:
        return check_segment(value, kind)
    except InvalidName as exc:
        raise bad_request(str(exc)) from None


def _updaters(body: CatalogBody, kind: str) -> list[dict[str, Any]]:
    if kind != "platform" or not body.updaters:
        return []
    for updater in body.updaters:
        if updater.type not in UPDATER_TYPES:
            raise bad_request(f"invalid updater type: {updater.type[:40]}")
    if sum(1 for u in body.updaters if u.default) > 1:
        raise bad_request("only one updater can be the default")
    return [u.model_dump() for u in body.updaters]


def _title(kind: str) -> str:
    return kind.capitalize()


def _register(kind: str) -> None:
    @router.post(f"/{kind}/create", name=f"create_{kind}")
    async def create(request: Request, caller: Caller = Depends(the_caller)) -> dict[str, str]:
        services, admin = caller.services, caller.admin
        body = validate_model(CatalogBody, await read_json_object(request))
        name = _name(body, kind)
        item = CatalogItem(
            id=queries.new_id(),
            owner_id=admin.id,
            kind=kind,
            name=name,
            updaters=_updaters(body, kind),
        )
        try:
            async with services.sessions.begin() as session:
                if await queries.get_catalog_item(session, admin.id, kind, name=name):
                    raise ApiError(409, f"{_title(kind)} {name!r} already exists")
                session.add(item)
        except IntegrityError:
            raise ApiError(409, f"{_title(kind)} {name!r} already exists") from None
        return {f"create{_title(kind)}Result.Created": item.id}

    @router.get(f"/{kind}/list", name=f"list_{kind}s")
    async def list_items(
        caller: Caller = Depends(the_caller),
    ) -> dict[str, Any]:
        services, admin = caller.services, caller.admin
        async with services.sessions() as session:
            items = await queries.list_catalog(session, admin.id, kind)
        return {LIST_KEYS[kind]: [catalog_view(i, admin.username) for i in items]}

    @router.post(f"/{kind}/update", name=f"update_{kind}")
    async def update(request: Request, caller: Caller = Depends(the_caller)) -> dict[str, bool]:
        services, admin = caller.services, caller.admin
        body = validate_model(CatalogBody, await read_json_object(request))
        if not body.id:
            raise bad_request("Invalid request body")
        name = _name(body, kind)
        updaters = _updaters(body, kind)
        try:
            async with services.sessions.begin() as session:
                item = await queries.get_catalog_item(session, admin.id, kind, item_id=body.id)
                if item is None:
                    raise ApiError(404, f"{kind} not found")
                if name != item.name:
                    if await queries.catalog_value_in_use(session, admin.id, kind, item.name):
                        raise bad_request(
                            f"{_title(kind)} {item.name!r} is used by uploaded versions; their "
                            "artifacts' paths are named after it, so it cannot be renamed"
                        )
                    item.name = name
                if kind == "platform" and body.updaters is not None:
                    item.updaters = updaters
                item.updated_at = utcnow()
        except IntegrityError:
            raise ApiError(409, f"{_title(kind)} {name!r} already exists") from None
        return {f"update{_title(kind)}Result.Updated": True}

    @router.delete(f"/{kind}/delete", name=f"delete_{kind}")
    async def delete(
        id: str | None = Query(default=None),
        caller: Caller = Depends(the_caller),
    ) -> dict[str, int]:
        services, admin = caller.services, caller.admin
        if not id:
            raise bad_request(f"id (the {kind} id) is required")
        async with services.sessions.begin() as session:
            item = await queries.get_catalog_item(session, admin.id, kind, item_id=id)
            if item is None:
                raise ApiError(404, f"{kind} not found")
            if await queries.catalog_value_in_use(session, admin.id, kind, item.name):
                raise bad_request("you can't delete this item because it is related to other items")
            await session.delete(item)
        return {f"delete{_title(kind)}Result.DeletedCount": 1}


for _kind in KINDS:
    _register(_kind)
