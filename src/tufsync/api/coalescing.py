"""A transport whose writes within one event-loop step leave as one ``send``.

uvicorn's protocols write a response's status line and headers, then its body,
in two ``write`` calls: two ``send`` system calls for a small response.
:class:`CoalescingTransport` keeps the writes of one loop step and sends them
together at the end of that step (``call_soon``), or at once when they reach
:data:`CAP` bytes, so flow control still sees every byte: what it holds is at most
``CAP`` bytes and one loop step old, and it counts in ``get_write_buffer_size``.
Order is kept; ``close`` sends what is held first, ``abort`` drops it. Everything
else is the wrapped transport's (README "Benchmarks", ``bench.http_write``).
"""

from __future__ import annotations

import asyncio
from typing import Any

CAP = 64 * 1024


class CoalescingTransport:
    """Wraps one stream transport; writes of one loop step are joined (up to CAP)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        chunk = data if type(data) is bytes else bytes(data)
        self._pending.append(chunk)
        self._size += len(chunk)
        if self._size >= CAP:
            self._flush()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
