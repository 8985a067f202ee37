"""An upload request bounded by its storage budget while its body streams in.

Before the body is read, the admin's quota and the disk reserve are measured
(:func:`tufsync.registry.quota.upload_budget`): an admin at the quota, a declared
body past the quota left, or a disk below the reserve is refused at once. While
the body is read, it stops as soon as it passes the quota left (plus the
multipart envelope's room), with the quota's 413, so a tenant past its quota
costs no more than what it may still store (README "Limits").
"""

from __future__ import annotations

from fastapi import Request

from tufsync.api.bodylimit import MULTIPART_ROOM
from tufsync.api.errors import ApiError
from tufsync.api.forms import limit_body
from tufsync.api.jsonsafe import small_int
from tufsync.registry.quota import QuotaExceeded, StorageRefused, UploadBudget, upload_budget
from tufsync.services import Services


def _api_error(exc: StorageRefused) -> ApiError:
    # ``Connection: close``: the client may still be sending a body nobody reads.
    return ApiError(exc.status, exc.error, exc.message, headers={"Connection": "close"})


async def admit_upload(
    request: Request, services: Services, owner_id: int
) -> tuple[Request, UploadBudget]:
    """The request to read (bounded by the quota left) and the upload's budget;
    refuses (413/507) before reading when there is no room."""
    declared = small_int(request.headers.get("content-length"))
    try:
        budget = await upload_budget(services, owner_id, declared or 0)
    except StorageRefused as exc:
        raise _api_error(exc) from None
    if not budget.quota_binds:
        return request, budget
    limit = budget.limit + MULTIPART_ROOM
    refusal = _api_error(QuotaExceeded(budget.quota, budget.stored))
    return limit_body(request, limit, refusal), budget
