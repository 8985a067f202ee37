"""How uvicorn serves tufsync: uvloop and httptools, each response sent with one write.

uvicorn's httptools protocol hands the transport a response's status line and
headers, then its body, in two ``write`` calls: two ``send`` system calls per
response, and on loopback the first one alone cost a quarter of a small request's
CPU (py-spy, issue 14). :class:`CoalescingHttpToolsProtocol` gives uvicorn a
transport that gathers the writes made in one step of the event loop and sends
them together at the end of that step (``call_soon``), so a small response is one
system call. Order is kept, nothing is held past the current step, and closing
sends what is held first. Everything else is uvicorn's own protocol.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


class CoalescingTransport:
    """A transport whose writes within one event-loop step leave as one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data if type(data) is bytes else bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def http_protocol() -> Any:
    """The HTTP protocol for uvicorn: httptools with coalesced writes when installed.

    A class of a module (not of a function): ``serve --workers N`` pickles it for the
    worker processes."""
    if not has_module("httptools"):
        return "auto"
    from tufsync.api.httptools_coalescing import CoalescingHttpToolsProtocol

    return CoalescingHttpToolsProtocol


def event_loop() -> str:
    """uvloop when installed (``uvicorn[standard]`` brings it), else asyncio's loop."""
    return "uvloop" if has_module("uvloop") else "asyncio"
