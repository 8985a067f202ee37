"""Request heads (request line + headers) are bounded while they stream in: past
``TUFSYNC_MAX_REQUEST_HEAD_BYTES`` (64 KiB) the server answers 431 or closes the
connection, and its memory does not grow with what the client keeps sending. The
trailers of a chunked body are bounded alike (the connection is closed).

Each attack streams up to 32 MiB of one request head over a real socket to a real
server, in 16 KiB sends, stopping as soon as the server answers or closes; the
server's peak resident memory (VmHWM in /proc/<pid>/status) must stay within a
few MiB, and other connections keep being answered meanwhile.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.support import ServerProcess, run_server

KIB = 1024
MIB = 1024 * KIB
LIMIT = 64 * KIB
ATTACK = 32 * MIB
SEND = 16 * KIB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with run_server(tmp_path_factory.mktemp("head-limit")) as proc:
        for _ in range(20):  # warm up: what every request allocates anyway
            assert httpx.get(f"{proc.url}/health").status_code == 200
        yield proc


def peak_rss(server: ServerProcess) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * KIB
    raise AssertionError("no VmHWM line")


def connect(server: ServerProcess) -> socket.socket:
    url = urlparse(server.url)
    return socket.create_connection((url.hostname, url.port), timeout=30)


def read_answer(sock: socket.socket, timeout: float = 15) -> tuple[str, bool]:
    """The status line the server sent (or ""), and whether it closed the connection."""
    sock.settimeout(timeout)
    answer = b""
    closed = False
    while b"\r\n" not in answer:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        except TimeoutError:
            break
        if not data:
            closed = True
            break
        answer += data
    return answer.split(b"\r\n", 1)[0].decode(errors="replace"), closed


def stream_head(server: ServerProcess, start: bytes, filler: bytes) -> tuple[str, bool, int]:
    """Send ``start`` then ``filler`` repeated up to ATTACK bytes, one SEND at a time,
    until the server answers or closes. Midway (under the limit) another connection
    must get its answer. Returns (status line, closed, bytes sent)."""
    piece = (filler * (SEND // len(filler) + 1))[:SEND]
    sock = connect(server)
    sent = 0
    try:
        sock.sendall(start)
        sent += len(start)
        while sent < ATTACK:
            if select.select([sock], [], [], 0.005)[0]:
                break  # the server answered, or closed
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            if sent - len(piece) < LIMIT // 2 <= sent:
                other = httpx.get(f"{server.url}/health", timeout=5)
                assert other.status_code == 200, "another connection waited on this one"
        status, closed = read_answer(sock)
    finally:
        sock.close()
    return status, closed, sent


def assert_refused_early(server: ServerProcess, start: bytes, filler: bytes) -> None:
    before = peak_rss(server)
    status, closed, sent = stream_head(server, start, filler)
    grown = peak_rss(server) - before
    print(f"answer {status!r}, closed {closed}, sent {sent / KIB:.0f} KiB, +{grown / MIB:.1f} MiB")
    assert " 431 " in status + " " or (status == "" and closed), (status, closed)
    assert sent < 4 * MIB, f"the server read {sent} bytes of one request head"
    assert grown < 4 * MIB, f"peak RSS grew by {grown / MIB:.1f} MiB"
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_one_endless_header_line_is_refused(server: ServerProcess) -> None:
    assert_refused_early(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ", b"a")


def test_endless_headers_are_refused(server: ServerProcess) -> None:
    lines = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"v" * 40) for i in range(300))
    assert_refused_early(server, b"GET /health HTTP/1.1\r\nHost: x\r\n", lines)


def test_an_endless_request_line_is_refused(server: ServerProcess) -> None:
    assert_refused_early(server, b"GET /health?q=", b"a")


def test_endless_trailers_of_a_chunked_body_are_refused(server: ServerProcess) -> None:
    start = (
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: "
    )
    assert_refused_early(server, start, b"a")


def test_the_refusal_is_a_431_with_the_error_envelope(server: ServerProcess) -> None:
    with contextlib.closing(connect(server)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (LIMIT + 10))
        sock.settimeout(15)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while data := sock.recv(65536):
                answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"limit of 65536 bytes" in body, body


def test_heads_under_the_limit_are_answered_on_one_connection(server: ServerProcess) -> None:
    """60 KiB of headers, sent in small pieces, twice on one keep-alive connection."""
    headers = "".join(f"X-Big-{i}: {'h' * 2000}\r\n" for i in range(30))
    request = f"GET /health HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()
    assert len(request) < LIMIT
    with contextlib.closing(connect(server)) as sock:
        for _ in range(2):
            for at in range(0, len(request), 1000):
                sock.sendall(request[at : at + 1000])
            head, body = read_response(sock)
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert body


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One whole response with a Content-Length: its head and its body."""
    sock.settimeout(15)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed inside the body"
        body += chunk
    return head, body


def test_the_limit_is_the_setting(tmp_path: Path) -> None:
    env = {"TUFSYNC_MAX_REQUEST_HEAD_BYTES": "16384"}
    with run_server(tmp_path / "srv", env) as small:
        over = httpx.get(f"{small.url}/health", headers={"X-Pad": "p" * 17000})
        assert over.status_code == 431
        assert "limit of 16384 bytes" in over.json()["error"]
        under = httpx.get(f"{small.url}/health", headers={"X-Pad": "p" * 15000})
        assert under.status_code == 200
