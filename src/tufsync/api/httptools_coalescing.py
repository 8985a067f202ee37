"""uvicorn's httptools protocol on a :class:`~tufsync.api.httpserver.CoalescingTransport`.

Its own module because it imports httptools (only :func:`tufsync.api.httpserver.http_protocol`
imports it, when httptools is installed) and because ``serve --workers N`` pickles the class
by its module path.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tufsync.api.httpserver import CoalescingTransport


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's protocol; each response leaves with one write (see httpserver)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(wrapped)  # type: ignore[arg-type]
