"""One automatic-refresh pass over 1,000 bootstrapped repositories.

Run: python -m bench.refresh [--repos 1000]
Prints the time of a pass with nothing due, and with everything due (the
pass itself, which queues one task per repository, and until every queued
re-signing has finished). Embedded mode (SQLite state, local files), in process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tests.support import FakeClock, ceremony

from tufsync import tenant_keys
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.tasks.scheduler import refresh_pass
from tufsync.tuf.bootstrap import run_bootstrap, validate_bootstrap


async def run(repos: int) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), refresh_interval_seconds=10**6)
        services = await Services.start(settings, clock=clock)
        engine = services.tuf
        start = time.perf_counter()
        for i in range(repos):
            admin, app = "bench", f"app{i}"
            cer = ceremony(engine.keys.root, admin, app, expirations={"timestamp": 1})
            plan = validate_bootstrap(admin, app, cer.payload, engine.keys, clock())
            await run_bootstrap(engine.repo(admin, app), plan, f"task{i}")
            await services.state.set(
                tenant_keys.bootstrap(tenant_keys.TenantRef(admin, app)), f"task{i}"
            )
        print(f"bootstrapped {repos} repositories in {time.perf_counter() - start:.1f} s")

        idle = []
        for _ in range(5):
            t0 = time.perf_counter()
            report = await refresh_pass(services, clock())
            idle.append(time.perf_counter() - t0)
            assert report.queued == 0
        print(f"pass, nothing due:       median {statistics.median(idle) * 1000:8.1f} ms")

        clock.advance(days=1)
        t0 = time.perf_counter()
        report = await refresh_pass(services, clock())
        queued_s = time.perf_counter() - t0
        await services.queue.wait_idle()
        done_s = time.perf_counter() - t0
        assert report.queued == repos
        print(f"pass, everything due:    {queued_s * 1000:8.1f} ms to queue {report.queued} tasks")
        print(
            f"                         {done_s:8.2f} s until all re-signed "
            f"({repos / done_s:.0f} repositories/s)"
        )
        await services.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repos", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.repos))


if __name__ == "__main__":
    main()
