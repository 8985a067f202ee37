"""What abuse costs a real server: memory of an oversized body or head, /health under load.

Run: python -m bench.abuse [--body-mib 256] [--header-mib 256] [--bins 16384] [--clients 8]
Starts ``tufsync serve`` (embedded mode) in a temporary directory and prints:
the server's peak resident memory (VmHWM) before and after a chunked body of
``--body-mib`` MiB sent to /login, and before and after one header line of
``--header-mib`` MiB (sent until the server answers or closes); /health latency
idle, while ``--clients`` clients send wrong passwords to /login, during a
bootstrap of ``--bins`` hash bins, and during a publish of 64 artifacts into that repository.
"""

from __future__ import annotations

import argparse
import select
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx
from tests.support import PASSWORD, SIGNUP_KEY, Api, ServerProcess, ceremony, run_server

from bench.harness import percentile

MIB = 1024 * 1024


def peak_rss_mib(server: ServerProcess) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def chunked_login(server: ServerProcess, mib: int) -> tuple[str, int]:
    url = urlparse(server.url)
    sent = 0
    with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
        sock.sendall(
            f"POST /login HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n" % MIB + b" " * MIB + b"\r\n"
        try:
            for _ in range(mib):
                sock.sendall(chunk)
                sent += 1
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        answer = sock.recv(200)
    return answer.split(b"\r\n", 1)[0].decode(), sent


def header_line(server: ServerProcess, mib: int) -> tuple[str, float]:
    """Send one header line of up to ``mib`` MiB, 64 KiB at a time, until the server
    answers or closes; return (its status line, MiB sent)."""
    url = urlparse(server.url)
    sent = 0
    piece = b"a" * (64 * 1024)
    with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            while sent < mib * MIB and not select.select([sock], [], [], 0)[0]:
                sock.sendall(piece)
                sent += len(piece)
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass
        try:
            answer = sock.recv(200)
        except OSError:
            answer = b"(connection reset)"
    return answer.split(b"\r\n", 1)[0].decode(), sent / MIB


def health_during(server: ServerProcess, work: Callable[[], object]) -> list[float]:
    """/health latencies sampled every 50 ms while ``work`` runs."""
    latencies: list[float] = []
    done = threading.Event()

    def watch() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            while not done.is_set():
                start = time.perf_counter()
                client.get("/health")
                latencies.append(time.perf_counter() - start)
                time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        work()
    finally:
        done.set()
        watcher.join()
    return latencies


def report(label: str, latencies: list[float]) -> None:
    print(
        f"  /health {label:<38} median {statistics.median(latencies) * 1000:6.1f} ms   "
        f"p95 {percentile(latencies, 95) * 1000:6.1f} ms   "
        f"max {max(latencies) * 1000:7.1f} ms   (n={len(latencies)})"
    )


def hammer_logins(server: ServerProcess, clients: int, seconds: float) -> Counter[int]:
    statuses: Counter[int] = Counter()
    stop = time.monotonic() + seconds

    def one(name: str) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            while time.monotonic() < stop:
                response = client.post("/login", json={"username": name, "password": "wrong!!!"})
                statuses[response.status_code] += 1

    threads = [threading.Thread(target=one, args=(f"user{i}",)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--body-mib", type=int, default=256)
    parser.add_argument("--header-mib", type=int, default=256)
    parser.add_argument("--bins", type=int, default=16384)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    env = {  # no attempt limit: measure what the hashing itself costs the loop
        "TUFSYNC_LOGIN_LIMIT_PER_CLIENT": "1000000/minute",
        "TUFSYNC_LOGIN_LIMIT_PER_USERNAME": "1000000/minute",
    }
    with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp) / "srv", env) as server:
        http = httpx.Client(base_url=server.url, timeout=120)
        for i in range(args.clients):
            body = {"username": f"user{i}", "password": PASSWORD, "api_key": SIGNUP_KEY}
            http.post("/signup", json=body)
        chunked_login(server, 20)  # warm-up
        before = peak_rss_mib(server)
        status, sent = chunked_login(server, args.body_mib)
        after = peak_rss_mib(server)
        print(f"chunked {args.body_mib} MiB body to /login: {status!r}, client sent {sent} MiB")
        print(f"  server peak RSS {before:.0f} MiB -> {after:.0f} MiB (+{after - before:.0f} MiB)")
        before = peak_rss_mib(server)
        status, header_sent = header_line(server, args.header_mib)
        after = peak_rss_mib(server)
        print(f"{args.header_mib} MiB header line: {status!r}, client sent {header_sent:.2f} MiB")
        print(f"  server peak RSS {before:.0f} MiB -> {after:.0f} MiB (+{after - before:.0f} MiB)")

        report("idle", health_during(server, lambda: time.sleep(3)))
        statuses: Counter[int] = Counter()
        latencies = health_during(
            server, lambda: statuses.update(hammer_logins(server, args.clients, 5.0))
        )
        report(f"with {args.clients} clients failing logins", latencies)
        print(f"  login answers: {dict(statuses)}")

        api = Api(server, "bencher")
        cer = ceremony(server.key_dir, api.username, "bins", hash_bins=args.bins)
        took: list[float] = []

        def bootstrap() -> None:
            start = time.perf_counter()
            api.bootstrap_ok({**cer.payload, "timeout": 3600})
            took.append(time.perf_counter() - start)

        report(f"during a {args.bins}-bin bootstrap", health_during(server, bootstrap))
        print(f"  bootstrap took {took[0]:.1f} s")
        files = {f"a.x{i}": f"artifact {i}".encode() for i in range(64)}
        version_id = api.upload_ok("bins", "1.0", files)
        report(
            "during a 64-artifact publish (bins)",
            health_during(server, lambda: api.publish_ok(version_id, "1.0")),
        )


if __name__ == "__main__":
    main()
