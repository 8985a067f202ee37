"""The audit trail of one repository, for its owner: GET /tuf/v1/audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from tufsync.api.deps import Tenant, tenant_from_query
from tufsync.api.errors import not_found
from tufsync.db import audit

router = APIRouter(prefix="/tuf/v1", tags=["tuf: audit"])


class AuditItem(BaseModel):
    id: int = Field(description="Grows with every event; newer events have larger ids.")
    time: datetime
    event: str = Field(description="Kind of change, e.g. bootstrap, signature_added.")
    actor: str = Field(description="The admin whose request or task made the change.")
    task_id: str | None
    details: dict[str, Any] = Field(description="Public facts: keyids, versions, roles, paths.")


class AuditPage(BaseModel):
    items: list[AuditItem]
    total: int
    page: int
    limit: int


class AuditResponse(BaseModel):
    data: AuditPage
    message: str


@router.get("/audit", response_model=AuditResponse)
async def audit_trail(
    page: int = Query(default=1, ge=1, le=1_000_000, description="Page number, from 1."),
    limit: int = Query(default=50, ge=1, le=audit.MAX_PAGE_SIZE, description="Events per page."),
    tenant: Tenant = Depends(tenant_from_query),
) -> AuditResponse:
    """The app's trust changes, newest first. A missing app (or another admin's) is 404."""
    async with tenant.services.sessions() as session:
        entries, total = await audit.page(session, tenant.admin.id, tenant.app, page, limit)
    if total == 0 and not await tenant.repo.is_bootstrapped():
        raise not_found(f"No audit trail for app {tenant.app!r}: it has no TUF repository")
    items = [AuditItem.model_validate(e, from_attributes=True) for e in entries]
    return AuditResponse(
        data=AuditPage(items=items, total=total, page=page, limit=limit), message="Audit trail"
    )
