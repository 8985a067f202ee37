"""uvicorn's httptools protocol behind the request-head bound (431 past it).

:class:`BoundedHttpToolsProtocol` is an ``asyncio.Protocol`` that uvicorn builds
for each connection as it builds any ``http=`` protocol class (keyword arguments
``config``, ``server_state``, ``app_state``, ``_loop``). It holds uvicorn's own
httptools protocol, built the same way, and passes it every event unchanged,
except that each read is first counted by a :class:`~tufsync.api.headlimit.HeadMeter`:
a read that takes the request head in progress past the limit is answered with
431 and the connection is closed, before uvicorn's parser keeps any of it (past
the limit inside a chunked body's trailers, the connection is closed).

uvicorn's protocol writes to a :class:`~tufsync.api.coalescing.CoalescingTransport`,
so a small response leaves in one ``send`` instead of two (the figure is
``bench.http_write``'s).

The limit is uvicorn's ``h11_max_incomplete_event_size`` setting, which bounds
the same thing (the request line and headers) when uvicorn runs h11, so one
``uvicorn.Config`` setting holds the bound whichever protocol runs (see
:mod:`tufsync.api.httpserver`).

Its own module because it imports httptools, which only
:func:`tufsync.api.httpserver.http_protocol` imports, when it is installed; and
because ``serve --workers N`` pickles the class by its module path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tufsync.api.coalescing import CoalescingTransport
from tufsync.api.headlimit import DEFAULT_MAX_HEAD_BYTES, HeadMeter

log = logging.getLogger(__name__)


def refusal(limit: int) -> bytes:
    """The whole 431 response, in the project's error envelope, closing the connection."""
    sentence = (
        f"Request line and headers are larger than the server's limit of "
        f"{limit} bytes; send a shorter URL or fewer and smaller headers."
    )
    body = json.dumps({"error": sentence, "message": sentence}).encode()
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


class BoundedHttpToolsProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: uvicorn's httptools protocol, its request heads bounded."""

    # Each response's head and body leave in one send (tufsync.api.coalescing).
    coalesce_writes = True

    def __init__(
        self,
        config: Config,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._inner = HttpToolsProtocol(
            config=config, server_state=server_state, app_state=app_state, _loop=_loop
        )
        limit = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        self._meter = HeadMeter(limit)
        self._transport: asyncio.Transport | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not subclass asyncio.Transport).
        stream = cast(asyncio.Transport, transport)
        if self.coalesce_writes:
            stream = cast(
                asyncio.Transport, CoalescingTransport(stream, asyncio.get_running_loop())
            )
        self._transport = stream
        self._inner.connection_made(stream)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._meter.feed(data):
            self._inner.data_received(data)
            return
        self._refuse()

    def _refuse(self) -> None:
        self._refused = True
        transport = self._transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        if self._meter.in_head:
            log.warning("request head over %d bytes from %s: 431", self._meter.limit, peer)
        else:  # a chunked body's trailers: the request's answer may have begun already
            log.warning("trailers over %d bytes from %s: closed", self._meter.limit, peer)
        if not transport.is_closing():
            if self._meter.in_head:
                transport.write(refusal(self._meter.limit))
            transport.close()

    def eof_received(self) -> bool | None:
        self._inner.eof_received()
        return None  # close the transport (uvicorn's protocol keeps nothing open)

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
