"""Whichever HTTP protocol uvicorn runs (httptools behind the bound, or h11 where
httptools is missing), :func:`server_options` bounds the request head: a head past
the limit is refused while it streams in, and heads within it are answered."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tests.support import free_port
from tufsync.api import httpserver
from tufsync.api.bounded_protocol import BoundedHttpToolsProtocol

LIMIT = 16 * 1024


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def serving(options: dict[str, Any]) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="off", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(params=["httptools", "h11"])
def options(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    if request.param == "h11":
        monkeypatch.setattr(httpserver, "has_module", lambda name: name != "httptools")
    chosen = httpserver.server_options(LIMIT)
    expected = BoundedHttpToolsProtocol if request.param == "httptools" else "h11"
    assert chosen["http"] == expected
    return chosen


def answer_to(port: int, start: bytes, filler: bytes, total: int) -> tuple[bytes, int]:
    """Stream a head until the server answers or closes: (what it sent, bytes sent)."""
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(start)
        piece = filler * (4096 // len(filler))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < total and not select.select([sock], [], [], 0.002)[0]:
                sock.sendall(piece)
                sent += len(piece)
            if sent >= total:
                sock.sendall(b"\r\n\r\n")
            while data := sock.recv(65536):
                answer += data
    return answer, sent


def test_a_head_past_the_limit_is_refused_while_it_streams_in(options: dict[str, Any]) -> None:
    with serving(options) as port:
        for start, filler in (
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", b"a"),
            (b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-Many: v\r\n"),
            (b"GET /?q=", b"a"),
        ):
            answer, sent = answer_to(port, start, filler, 8 * 1024 * 1024)
            assert sent < 1024 * 1024, (start, sent)
            status = answer.split(b"\r\n", 1)[0]
            # httptools behind the bound answers 431; uvicorn's h11 answers 400.
            assert status in (b"HTTP/1.1 431 Request Header Fields Too Large", b"") or (
                options["http"] == "h11" and status.startswith(b"HTTP/1.1 400 ")
            ), status
        assert request(port, b"").startswith(b"HTTP/1.1 200 "), "a later request is answered"


def test_a_head_within_the_limit_is_answered(options: dict[str, Any]) -> None:
    with serving(options) as port:
        answer = request(port, b"X-Pad: " + b"p" * (LIMIT - 200) + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]


def request(port: int, headers: bytes) -> bytes:
    """One GET with ``headers``, sent 1000 bytes at a time; the whole answer."""
    data = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n"
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for at in range(0, len(data), 1000):
            sock.sendall(data[at : at + 1000])
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
