"""Reading trusted metadata and repository settings."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from tufsync.api.deps import Tenant, tenant_from_query
from tufsync.api.errors import bad_request, not_found
from tufsync.api.repo_guard import not_bootstrapped
from tufsync.api.tuf_models import (
    TrustedDelegatedAnswer,
    TrustedRootAnswer,
    TrustedTargetsAnswer,
    route_doc,
)
from tufsync.names import InvalidName, check_role_name
from tufsync.tuf.errors import NotBootstrapped
from tufsync.tuf.metastore import versioned_name
from tufsync.tuf.repository import Repository, Trusted

router = APIRouter(prefix="/tuf/v1", tags=["tuf: metadata"])


async def _trusted(repo: Repository) -> Trusted:
    try:
        return await repo.trusted()
    except NotBootstrapped:
        raise not_bootstrapped(repo.app) from None


async def _published_json(repo: Repository, filename: str) -> dict[str, Any]:
    raw = await repo.files.read_bytes(filename)
    if raw is None:
        raise not_bootstrapped(repo.app)
    parsed: dict[str, Any] = json.loads(raw)
    return parsed


@router.get("/metadata/root", **route_doc(TrustedRootAnswer, 200, 400, 404))
async def trusted_root(
    tenant: Tenant = Depends(tenant_from_query),
) -> JSONResponse:
    repo = tenant.repo
    root = await repo.files.latest_root()
    if root is None:
        raise not_bootstrapped(repo.app)
    data = await _published_json(repo, versioned_name("root", root.signed.version))
    return JSONResponse({"data": {"trusted_root": data}, "message": "Current trusted root"})


@router.get("/metadata/targets", **route_doc(TrustedTargetsAnswer, 200, 400, 404))
async def trusted_targets(
    tenant: Tenant = Depends(tenant_from_query),
) -> JSONResponse:
    repo = tenant.repo
    trusted = await _trusted(repo)
    data = await _published_json(repo, versioned_name("targets", trusted.role_version("targets")))
    return JSONResponse({"data": {"trusted_targets": data}, "message": "Current trusted targets"})


@router.get("/metadata/delegated", **route_doc(TrustedDelegatedAnswer, 200, 400, 404))
async def trusted_delegated(
    roleName: str | None = Query(default=None),
    tenant: Tenant = Depends(tenant_from_query),
) -> JSONResponse:
    repo = tenant.repo
    if not roleName:
        raise bad_request("roleName query parameter is required")
    try:
        check_role_name(roleName)
    except InvalidName as exc:
        raise bad_request(str(exc)) from None
    trusted = await _trusted(repo)
    delegations = trusted.targets.signed.delegations
    delegated = delegations is not None and (
        (delegations.roles is not None and roleName in delegations.roles)
        or (
            delegations.succinct_roles is not None
            and delegations.succinct_roles.is_delegated_role(roleName)
        )
    )
    if not delegated or f"{roleName}.json" not in trusted.snapshot.signed.meta:
        raise not_found(f"Role {roleName!r} is not delegated by the trusted targets metadata")
    data = await _published_json(repo, versioned_name(roleName, trusted.role_version(roleName)))
    message = "Current trusted delegated metadata"
    return JSONResponse({"data": {"trusted_delegated": data}, "message": message})
