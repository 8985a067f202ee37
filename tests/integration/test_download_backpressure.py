"""A slow reader of a large public file costs the server bounded memory, and the
server keeps answering others meanwhile (the transport's flow control reaches
the response: the server reads the file only as fast as the client takes it).

A client reads a 512 MiB artifact from ``/public`` at 1 MiB/s for 20 s (not to its
end: the point is made once the server could have read the whole file many times
over); the server's resident memory stays within +64 MiB of where it started and
``GET /health`` on other connections answers within a second throughout.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.support import ServerProcess, run_server

MIB = 1024 * 1024
SIZE = 512 * MIB
RATE = MIB  # bytes per second
READ = 64 * 1024
SECONDS = 12.0


def rss(server: ServerProcess) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


@pytest.mark.slow
def test_a_slow_reader_of_a_large_file_costs_bounded_memory(tmp_path: Path) -> None:
    with run_server(tmp_path / "srv") as server:
        folder = server.public_dir / "bigapp-tester"
        folder.mkdir(parents=True)
        with (folder / "artifact.bin").open("wb") as artifact:
            artifact.truncate(SIZE)  # sparse: 512 MiB to read, no disk written
        for _ in range(20):
            assert httpx.get(f"{server.url}/health").status_code == 200
        before = rss(server)

        url = urlparse(server.url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect((url.hostname, url.port))
        sock.settimeout(10)
        received = 0
        peak = before
        slowest_health = 0.0
        try:
            sock.sendall(b"GET /public/bigapp-tester/artifact.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            start = time.monotonic()
            next_check = start
            while (now := time.monotonic()) - start < SECONDS:
                data = sock.recv(READ)
                assert data, "the server closed the download"
                received += len(data)
                if now >= next_check:
                    asked = time.monotonic()
                    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
                    slowest_health = max(slowest_health, time.monotonic() - asked)
                    peak = max(peak, rss(server))
                    next_check = now + 1.0
                # 1 MiB/s: sleep until this many bytes are due
                time.sleep(max(0.0, start + received / RATE - time.monotonic()))
            peak = max(peak, rss(server))
        finally:
            sock.close()
        print(
            f"read {received / MIB:.0f} MiB in {SECONDS:.0f} s; server RSS {before / MIB:.0f} MiB, "
            f"peak {peak / MIB:.0f} MiB (+{(peak - before) / MIB:.0f}); "
            f"slowest /health {slowest_health * 1000:.0f} ms"
        )
        assert received >= SECONDS * RATE * 0.8, "the download did not flow at 1 MiB/s"
        assert peak - before < 64 * MIB, f"server RSS grew by {(peak - before) / MIB:.0f} MiB"
        assert slowest_health < 1.0
