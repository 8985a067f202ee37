"""Request middleware: one log line and the request metrics per HTTP request.

Routes are named by their template (``/tuf/v1/metadata/sign``,
``/public/{path:path}``), never by the path a client sent, so neither
tenant names nor query strings reach the logs or the metric labels; requests
that match no route are counted under ``unmatched``. The admin is the one
the auth dependency recognised (``request.state.admin``), never the token.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tufsync.observability.logs import log_request
from tufsync.observability.metrics import observe_request

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestObserver:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            method = scope.get("method", "GET")
            method = method if method in METHODS else "OTHER"
            route = route_template(scope)
            state = scope.get("state") or {}
            admin = state.get("admin") if isinstance(state, dict) else None
            client = scope.get("client")
            observe_request(method, route, status, seconds)
            log_request(method, route, status, seconds, admin, client[0] if client else None)
