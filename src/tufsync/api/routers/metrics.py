"""``GET /metrics``: the Prometheus page, for loopback and the clients the operator allows.

Loopback clients are always let in; others only from a network in
``TUFSYNC_METRICS_ALLOW`` or with ``Authorization: Bearer <TUFSYNC_METRICS_TOKEN>``.
The page lists tenant names (admin and app labels), so it is never public.
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from tufsync.api.deps import get_services
from tufsync.api.errors import ApiError
from tufsync.observability.metrics import CONTENT_TYPE, Snapshot, render
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.tuf.expiry import drafts_pending, read_schedules

router = APIRouter(tags=["operations"])


def metrics_allowed(request: Request, settings: Settings) -> bool:
    token = settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return True
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    return any(address in network for network in settings.metrics_networks)


def require_metrics_access(request: Request, services: Services = Depends(get_services)) -> None:
    if not metrics_allowed(request, services.settings):
        raise ApiError(
            403,
            "Metrics are open to loopback only; the operator allows other clients with "
            "TUFSYNC_METRICS_ALLOW (networks) or TUFSYNC_METRICS_TOKEN (bearer token)",
        )


async def take_snapshot(services: Services) -> Snapshot:
    schedules = await read_schedules(services.state)
    return Snapshot(
        now=services.tuf.clock(),
        horizon=timedelta(days=services.settings.expiry_warning_days),
        schedules=schedules,
        queue_depth=await services.queue.depth(),
        drafts_pending=await drafts_pending(services.state, schedules),
    )


@router.get(
    "/metrics",
    dependencies=[Depends(require_metrics_access)],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(services: Services = Depends(get_services)) -> Response:
    """Counters of requests and tasks, expiry of every role, queue depth."""
    return Response(render(await take_snapshot(services)), media_type=CONTENT_TYPE)
