"""Request bodies are read as a stream and refused with 413 past the limit
(docs/api.md §6 "Limits").

The memory test measures the real server process: its peak resident memory
(VmHWM in /proc/<pid>/status) may grow by little more than the 16 MiB limit while
a client sends a 256 MiB chunked body, unauthenticated, to /login.
"""

from __future__ import annotations

import contextlib
import select
import socket
from pathlib import Path
from urllib.parse import urlparse

import httpx

from tests.support import Api, ServerProcess, run_server

MIB = 1024 * 1024
LIMIT = 16 * MIB
SENT_MIB = 256


def peak_rss(server: ServerProcess) -> int:
    """The server process's peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM line")


def send_chunked(server: ServerProcess, path: str, mib: int, headers: str = "") -> tuple[str, int]:
    """POST ``mib`` MiB as a chunked JSON body; return (status line, MiB actually sent)."""
    url = urlparse(server.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sent = 0
    answer = b""
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\n{headers}\r\n"
        )
        sock.sendall(head.encode())
        sock.sendall(b'5\r\n{"a":\r\n1\r\n"\r\n')
        chunk = b"%x\r\n" % MIB + b"a" * MIB + b"\r\n"
        for _ in range(mib):
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered already
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
        else:  # the whole body went out (or the server closed as it answered)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b'1\r\n"\r\n1\r\n}\r\n0\r\n\r\n')
        sock.settimeout(30)
        while b"\r\n" not in answer:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break  # what arrived before the reset is in ``answer``
            if not data:
                break
            answer += data
    finally:
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode(), sent


def test_chunked_body_to_login_costs_no_more_than_the_limit(tmp_path: Path) -> None:
    with run_server(tmp_path / "srv") as server:
        # Warm up: the first requests import and allocate what the server needs anyway.
        warm = httpx.post(f"{server.url}/login", json={"username": "nobody", "password": "x" * 8})
        assert warm.status_code == 401
        send_chunked(server, "/login", 20)
        before = peak_rss(server)
        status, sent = send_chunked(server, "/login", SENT_MIB)
        after = peak_rss(server)
        print(
            f"peak RSS before {before / MIB:.0f} MiB, after a {SENT_MIB} MiB chunked body "
            f"{after / MIB:.0f} MiB (+{(after - before) / MIB:.0f} MiB); client sent {sent} MiB"
        )
        assert " 413 " in status + " ", status
        assert sent < SENT_MIB, "the server read the whole body instead of stopping at the limit"
        assert after - before < 48 * MIB, (before, after)
        assert httpx.get(f"{server.url}/health").status_code == 200


def test_every_json_route_stops_at_the_limit(api: Api) -> None:
    token = api.http.headers["Authorization"]
    for path in ("/signup", "/tuf/v1/bootstrap", "/tuf/v1/artifacts/publish", "/app/create"):
        status, sent = send_chunked(api.server, path, 24, headers=f"Authorization: {token}\r\n")
        assert " 413 " in status + " ", (path, status)
        assert sent < 24, path
    declared = api.post(
        "/tuf/v1/bootstrap",
        content=b" " * (LIMIT + 1),
        headers={"Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    assert "limit" in declared.json()["error"]
    under = api.post(
        "/tuf/v1/bootstrap",
        content=b'{"appName": "x"}' + b" " * (LIMIT - 100),
        headers={"Content-Type": "application/json"},
    )
    assert under.status_code == 400, under.text  # read and parsed: not a size problem
