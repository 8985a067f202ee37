"""What joining a response's writes saves (tufsync.api.coalescing): server CPU per request.

Run: python -m bench.http_write [--seconds 10] [--rounds 3] [--path /health]
Each round starts ``tufsync serve`` (embedded mode) twice: writes joined, as shipped, and
separate (``BoundedHttpToolsProtocol.coalesce_writes = False``: uvicorn's two sends per
response). wrk loads ``--path`` with 16 connections; the figure is the server's CPU
(``utime + stime``, bench/procstat.py) ÷ requests wrk saw answered. The variants alternate
within each round, so drifting load on a shared machine hits both alike. Needs wrk
(``scripts/ensure-bench-tools.sh``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from tests.support import SIGNUP_KEY, START_SECONDS, free_port

from bench import wrk
from bench.procstat import CpuMeter

VARIANTS = ("joined", "separate")
CONNECTIONS = 16


def serve(variant: str) -> None:
    """The server process: ``tufsync serve`` with the variant's protocol setting."""
    from tufsync.api.bounded_protocol import BoundedHttpToolsProtocol
    from tufsync.cli.main import app

    BoundedHttpToolsProtocol.coalesce_writes = variant == "joined"
    app(["serve"], prog_name="tufsync")


def measure(variant: str, workdir: Path, path: str, seconds: float) -> tuple[float, float]:
    """(server CPU ms per request, requests/s) of one variant."""
    port = free_port()
    data_dir = workdir / f"{variant}-{port}"
    data_dir.mkdir(parents=True)
    env = {
        **os.environ,
        "TUFSYNC_DATA_DIR": str(data_dir),
        "TUFSYNC_SIGNUP_KEY": SIGNUP_KEY,
        "TUFSYNC_PORT": str(port),
        "TUFSYNC_LOG_LEVEL": "warning",
    }
    with (data_dir / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.http_write", "--serve", variant],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((data_dir / "server.log").read_text(errors="replace"))
            time.sleep(0.1)
        for _ in range(200):  # warm up
            httpx.get(url + path)
        script = wrk.status_script(workdir)
        meter = CpuMeter([process.pid])
        meter.start()
        result = wrk.run(url + path, connections=CONNECTIONS, seconds=seconds, script=script)
        cpu = meter.stop()
        if result.errors:
            raise RuntimeError(f"{result.errors} failed requests:\n{result.output}")
        return cpu / max(1, result.requests) * 1000, result.rps
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", default="/health")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    wrk.require_wrk()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"GET {args.path}, wrk {CONNECTIONS} connections, {args.seconds:g} s; load {load}")
    cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as raw:
        for round_no in range(args.rounds):
            order = VARIANTS if round_no % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                ms, rps = measure(variant, Path(raw), args.path, args.seconds)
                cpu[variant].append(ms)
                print(f"round {round_no + 1} {variant:8} {ms:.3f} ms CPU/request, {rps:.0f} rps")
    joined, separate = (statistics.median(cpu[variant]) for variant in VARIANTS)
    print(
        f"median CPU/request: joined {joined:.3f} ms, separate {separate:.3f} ms; "
        f"joining saves {(separate - joined) * 1000:.1f} us ({(1 - joined / separate) * 100:.1f}%)"
    )


if __name__ == "__main__":
    main()
