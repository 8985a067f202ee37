"""What logs and metrics cost: a /metrics scrape over many repositories, the daily
expiry pass, and the request middleware's share of a request.

Run: python -m bench.observability [--repos 10000] [--requests 2000]
Schedules are written straight into a real SQLite state store (embedded mode);
the request part drives the real app in process through httpx's ASGI transport,
with JSON logs written to /dev/null.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from tufsync import tenant_keys
from tufsync.api.app import create_app
from tufsync.api.observe import RequestObserver
from tufsync.api.routers.metrics import take_snapshot
from tufsync.observability.logs import JsonFormatter
from tufsync.observability.metrics import render
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.tasks.expiry_watch import warn_expiring
from tufsync.tuf.refresh import RefreshSchedule


async def scrape(repos: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), refresh_interval_seconds=10**6)
        logging.getLogger("tufsync.expiry").disabled = True
        services = await Services.start(settings)
        try:
            now = services.tuf.clock()
            for i in range(repos):
                online = {
                    r: (now + timedelta(days=1)).timestamp()
                    for r in ("timestamp", "snapshot", "targets", "default")
                }
                offline = {"root": (now + timedelta(days=10 if i % 10 == 0 else 300)).timestamp()}
                schedule = RefreshSchedule("bench", f"app{i}", online, {}, offline)
                await services.state.set(
                    tenant_keys.schedule(tenant_keys.TenantRef("bench", f"app{i}")),
                    schedule.to_json(),
                )
            reads, renders, size = [], [], 0
            for _ in range(5):
                t0 = time.perf_counter()
                snapshot = await take_snapshot(services)
                t1 = time.perf_counter()
                page = render(snapshot)
                renders.append(time.perf_counter() - t1)
                reads.append(t1 - t0)
                size = len(page)
            print(
                f"/metrics over {repos} repositories ({5 * repos} expiry series, "
                f"{size / 1e6:.1f} MB): reading schedules median "
                f"{statistics.median(reads) * 1000:.0f} ms, rendering median "
                f"{statistics.median(renders) * 1000:.0f} ms"
            )
            t0 = time.perf_counter()
            first = await warn_expiring(services, now)
            first_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            second = await warn_expiring(services, now)
            second_s = time.perf_counter() - t0
            print(
                f"daily expiry pass: {first} warnings in {first_s * 1000:.0f} ms; "
                f"next pass ({second} new) {second_s * 1000:.0f} ms"
            )
        finally:
            await services.stop()


async def requests(count: int) -> None:
    handler = logging.FileHandler("/dev/null")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for observed in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(Settings(data_dir=Path(tmp), refresh_interval_seconds=10**6))
            if not observed:
                app.user_middleware = [
                    m for m in app.user_middleware if m.cls is not RequestObserver
                ]
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://b") as http:
                    for _ in range(50):
                        await http.get("/health")
                    t0 = time.perf_counter()
                    for _ in range(count):
                        await http.get("/health")
                    seconds = (time.perf_counter() - t0) / count
        label = "with" if observed else "without"
        print(f"GET /health {label} request log line + metrics: {seconds * 1e6:.0f} µs")
    root.removeHandler(handler)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(scrape(args.repos))
    asyncio.run(requests(args.requests))


if __name__ == "__main__":
    main()
