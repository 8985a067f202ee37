"""Joined writes: a small response leaves in one ``send``; what is held is bounded,
counted in the write buffer size, kept in order and sent before closing."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from tufsync.api.bounded_protocol import BoundedHttpToolsProtocol
from tufsync.api.coalescing import CAP, CoalescingTransport


class FakeTransport:
    """Records writes; enough of a stream transport for uvicorn's protocol."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 9000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def test_writes_of_one_step_leave_as_one_in_order() -> None:
    raw = FakeTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"head ")
    transport.write(memoryview(b"body"))
    assert raw.writes == []
    assert transport.get_write_buffer_size() == 9, "held bytes count as buffered"
    await asyncio.sleep(0)
    assert raw.writes == [b"head body"]
    transport.write(b"last")
    transport.close()
    assert raw.writes == [b"head body", b"last"] and raw.closed


async def test_no_more_than_the_cap_is_held() -> None:
    raw = FakeTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    for _ in range(10):
        transport.write(b"x" * (CAP // 4))
        assert transport.get_write_buffer_size() < CAP
    assert sum(map(len, raw.writes)) >= 8 * (CAP // 4)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def test_a_small_response_is_one_write() -> None:
    config = uvicorn.Config(app, log_config=None, lifespan="off")
    for joined, writes in ((True, 1), (False, 2)):
        protocol = BoundedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        protocol.coalesce_writes = joined
        raw = FakeTransport()
        protocol.connection_made(raw)  # type: ignore[arg-type]
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(raw.writes) == writes, (joined, raw.writes)
        assert b"".join(raw.writes).startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"".join(raw.writes).endswith(b"\r\n\r\nok")
        protocol.connection_lost(None)
