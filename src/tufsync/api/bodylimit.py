"""Request body limits, enforced while the body streams in (docs/api.md §6 "Limits").

An ASGI middleware counts the bytes of every request body as the route reads
them (chunked bodies included) and stops with 413 as soon as the count passes
the route's limit, so an oversized request never costs more memory than the
limit. A declared ``Content-Length`` above the limit is refused before reading.
JSON routes get :data:`MAX_JSON_BODY`; upload routes the upload size limit plus
room for the multipart envelope.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tufsync.api.errors import ApiError
from tufsync.api.jsonsafe import small_int

MAX_JSON_BODY = 16 * 1024 * 1024
MULTIPART_ROOM = 1024 * 1024
UPLOAD_PATHS = frozenset({"/upload"})


class BodyTooLarge(ApiError):
    """The body passed its limit (413)."""

    def __init__(self, limit: int) -> None:
        sentence = (
            f"Request body is larger than the server's limit of {limit} bytes; send a smaller body."
        )
        super().__init__(413, sentence, sentence)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, upload_limit: int, json_limit: int = MAX_JSON_BODY):
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit + MULTIPART_ROOM

    def limit_for(self, path: str) -> int:
        return self.upload_limit if path in UPLOAD_PATHS else self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, BodyTooLarge(limit))
            return
        received = 0
        exceeded = started = replaced = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            # Past the limit, whatever the app answers (a framework may turn the
            # exception into its own 400) becomes the 413.
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                if exceeded and not started:
                    replaced = started = True
                    await _send_413(send, BodyTooLarge(limit))
                    return
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _send_413(send, exc)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return small_int(value.decode("latin-1").strip())
    return None


async def _send_413(send: Send, exc: BodyTooLarge) -> None:
    body = json.dumps(exc.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
