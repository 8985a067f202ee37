"""CORS for browser clients (the faynoSync dashboard runs on its own origin).

Starlette's CORSMiddleware does the work; the allowed origins come from the
``TUFSYNC_ALLOWED_CORS`` setting. Preflight answers are shaped as faynoSync's
server shapes them: ``204`` with no body, the ``Access-Control-Allow-*``
headers only for an allowed origin. A request without an ``Origin`` header (every
non-browser client) skips Starlette's header handling and only gets the
``Vary: Origin`` Starlette would add, so it pays one small wrapper.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tufsync.settings import Settings

ALLOWED_METHODS = ["POST", "OPTIONS", "GET", "PUT", "DELETE", "PATCH"]
ALLOWED_HEADERS = [
    "Content-Type",
    "Content-Length",
    "Accept-Encoding",
    "X-CSRF-Token",
    "Authorization",
    "accept",
    "origin",
    "Cache-Control",
    "X-Requested-With",
]


class PreflightNoContentCORS(CORSMiddleware):
    """CORSMiddleware whose preflight answer is 204 without a body."""

    def __init__(self, app: ASGIApp, allow_origins: list[str]) -> None:
        super().__init__(
            app,
            allow_origins=allow_origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=True,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _has_origin(scope):
            await super().__call__(scope, receive, send)
            return

        async def send_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_vary_origin(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_vary)

    def preflight_response(self, request_headers: object) -> Response:
        answer = super().preflight_response(request_headers)  # type: ignore[arg-type]
        headers = dict(answer.headers)
        headers.pop("content-length", None)
        headers.pop("content-type", None)
        if answer.status_code != 200:
            # Not allowed: no Access-Control-Allow-* header, so the browser refuses.
            headers = {k: v for k, v in headers.items() if not k.startswith("access-control-")}
        return Response(status_code=204, headers=headers)


def _has_origin(scope: Scope) -> bool:
    return any(name == b"origin" for name, _ in scope["headers"])


def _with_vary_origin(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response headers with ``Origin`` added to ``Vary`` (as Starlette does)."""
    out = list(headers)
    values = [value for name, value in out if name.lower() == b"vary"]
    if not values:
        out.append((b"vary", b"Origin"))
        return out
    out = [(name, value) for name, value in out if name.lower() != b"vary"]
    out.append((b"vary", b", ".join([*values, b"Origin"])))
    return out


def install_cors(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(PreflightNoContentCORS, allow_origins=settings.cors_origins)
