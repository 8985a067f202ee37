"""The publishing benchmark suite (issue: publishing at scale). Prints one table.

Run: python -m bench   (about 5 minutes on 2 cores)

Every figure is the median of several runs, each cell measured on a real
server process in embedded mode (SQLite, local files):
- single-artifact publish latency, request → SUCCESS, at 0 / 1k / 10k / 100k
  existing targets, single-role and hash-bin (1024 bins) layouts;
- bytes a fresh ngclient downloads to verify one artifact, same grid;
- peak RSS of the server process for each cell (the 100k cells are the goal);
- 1,000 one-artifact publishes fired with concurrency 16 into one app:
  artifacts/s to SUCCESS and to visible in timestamp.json;
- one publish of a version with 10,000 artifacts: seconds to SUCCESS;
- then the cost table (``python -m bench.cost``, its docstring says how each row is
  measured): server CPU per published artifact, per authenticated request, per upload, public
  read rps ÷ /health rps, scale-out CPU per artifact. ``--skip-cost`` leaves it out.
Existing targets are seeded through the engine (not HTTP) before the server
starts, so seeding time is not part of any figure.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from tests.support import Api, ServerProcess, ceremony, run_server, unique_name
from tuf.api.exceptions import DownloadLengthMismatchError
from tuf.ngclient import Updater, UpdaterConfig, Urllib3Fetcher

from bench import cost
from bench.harness import percentile, time_publish
from tufsync.names import target_path
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.state.locks import hold_lock
from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.targets import TargetSpec, add_targets

BINS = 1024
SIZES = (0, 1_000, 10_000, 100_000)


def fake_spec(admin: str, app: str, i: int) -> TargetSpec:
    data = f"seed {i}".encode()
    return TargetSpec(
        f"{app}-{admin}/seed/p{i % 997}/any/{app}-0.{i}.bin",
        len(data),
        {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()},
    )


async def seed(data_dir: Path, admin: str, app: str, count: int) -> None:
    services = await Services.start(Settings(data_dir=data_dir), embedded_worker=False)
    repo = services.tuf.repo(admin, app)
    try:
        for start in range(0, count, 50_000):
            specs = [fake_spec(admin, app, i) for i in range(start, min(count, start + 50_000))]
            async with hold_lock(services.state, repo.lock_name) as lock:
                change = await MetadataChange.begin(repo, lock)
                await add_targets(change, specs)
                await change.commit()
    finally:
        await services.stop()


def peak_rss_mb(server: ServerProcess) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class CountingFetcher(Urllib3Fetcher):
    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def _fetch(self, url: str) -> Iterator[bytes]:
        for chunk in super()._fetch(url):
            self.bytes += len(chunk)
            yield chunk


def fresh_client_bytes(
    server: ServerProcess, admin: str, app: str, root: bytes, target: str
) -> int:
    """Metadata bytes a brand-new client downloads to verify ``target`` (not the target)."""
    with tempfile.TemporaryDirectory() as tmp:
        fetcher = CountingFetcher()
        updater = Updater(
            metadata_dir=tmp,
            metadata_base_url=f"{server.public_url}/tuf_metadata/{admin}/{app}/",
            target_base_url=f"{server.public_url}/",
            target_dir=tmp,
            fetcher=fetcher,
            config=UpdaterConfig(prefix_targets_with_hash=False),
            bootstrap=root,
        )
        updater.refresh()
        try:
            info = updater.get_targetinfo(target)
        except DownloadLengthMismatchError:
            return -1  # a role file larger than ngclient's default 5 MB limit
        assert info is not None, target
        return fetcher.bytes


@contextmanager
def prepared_server(workdir: Path, layout: str, size: int) -> Iterator[tuple[Api, bytes, str]]:
    """A server whose app ``bench`` already holds ``size`` targets."""
    data = workdir / f"{layout}-{size}"
    with run_server(data) as server:
        api = Api(server, unique_name("b"))
        cer = ceremony(
            server.key_dir, api.username, "bench", hash_bins=BINS if layout == "bins" else None
        )
        api.bootstrap_ok(cer.payload)
    asyncio.run(seed(data, api.username, "bench", size))
    with run_server(data) as server:
        api.server = server
        api.http.base_url = server.url  # type: ignore[misc]
        yield api, cer.root_bytes, "bench"


Cell = dict[str, float]


def latency_cell(workdir: Path, layout: str, size: int, runs: int) -> Cell:
    with prepared_server(workdir, layout, size) as (api, root, app):
        time_publish(api, app, "warm", b"warm-up")
        latencies = [time_publish(api, app, f"1.{i}", f"run {i}".encode()) for i in range(runs)]
        target = target_path(api.username, app, "1.0", "", "bench", "", ".bin")
        client_bytes = fresh_client_bytes(api.server, api.username, app, root, target)
        return {
            "median_ms": statistics.median(latencies) * 1000,
            "p95_ms": percentile(latencies, 95) * 1000,
            "client_kb": client_bytes / 1024 if client_bytes >= 0 else float("nan"),
            "rss_mb": peak_rss_mb(api.server),
        }


def visible_count(server: ServerProcess, admin: str, app: str) -> int:
    folder = server.public_dir / "tuf_metadata" / admin / app
    try:
        ts = json.loads((folder / "timestamp.json").read_bytes())
        snap_v = ts["signed"]["meta"]["snapshot.json"]["version"]
        snap = json.loads((folder / f"{snap_v}.snapshot.json").read_bytes())
        v = snap["signed"]["meta"]["default.json"]["version"]
        role = json.loads((folder / f"{v}.default.json").read_bytes())
        return len(role["signed"]["targets"])
    except (OSError, ValueError, KeyError):
        return -1


def concurrent_run(api: Api, app: str, count: int) -> tuple[float, float, int]:
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    jobs = [
        (api.upload_ok(app, f"2.{i}", {"c.bin": f"{app} {i}".encode()}), f"2.{i}")
        for i in range(count)
    ]
    visible_at: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if visible_count(api.server, api.username, app) >= count:
                visible_at.append(time.perf_counter())
                return
            time.sleep(0.005)

    def fire(job: tuple[str, str]) -> str:
        r = api.post("/tuf/v1/artifacts/publish", json={"app_id": job[0], "version": job[1]})
        if r.status_code != 202:
            return ""
        return str(r.json()["data"]["task_id"])

    watcher = threading.Thread(target=watch)
    start = time.perf_counter()
    watcher.start()
    with ThreadPoolExecutor(16) as pool:
        task_ids = list(pool.map(fire, jobs))
    states = [api.wait_task(t, timeout=300)["state"] if t else "REJECTED" for t in task_ids]
    finished = time.perf_counter()
    done.set()
    watcher.join()
    errors = sum(s != "SUCCESS" for s in states)
    visible = (visible_at[0] if visible_at else finished) - start
    return count / (finished - start), count / visible, errors


def big_version_run(api: Api, app: str, count: int) -> float:
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    version_id = ""
    for batch in range(0, count, 64):
        files = {f"f.x{i}": f"{app}{batch}.{i}".encode() for i in range(min(64, count - batch))}
        version_id = api.upload_ok(app, "5.0", files, platform=f"p{batch // 64}")
    start = time.perf_counter()
    r = api.post("/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "5.0"})
    task = api.wait_task(r.json()["data"]["task_id"], timeout=600)
    assert task["state"] == "SUCCESS", task
    return time.perf_counter() - start


def latency_table(workdir: Path, runs: int, sizes: list[int]) -> dict[tuple[str, int], Cell]:
    print(f"single-artifact publish (median of {runs}), fresh-client bytes, server peak RSS")
    header = ("layout", "targets", "median ms", "p95 ms", "client KB", "RSS MB")
    print("{:8} {:>8} {:>10} {:>8} {:>10} {:>8}".format(*header))
    cells: dict[tuple[str, int], Cell] = {}
    for layout in ("single", "bins"):
        for size in sizes:
            cell = cells[layout, size] = latency_cell(workdir, layout, size, runs)
            # client KB "nan": a role file exceeds ngclient's default 5 MB limit
            print(
                f"{layout:8} {size:>8} {cell['median_ms']:>10.1f} {cell['p95_ms']:>8.1f} "
                f"{cell['client_kb']:>10.1f} {cell['rss_mb']:>8.0f}"
            )
    return cells


def throughput(workdir: Path, repeats: int) -> None:
    with run_server(workdir / "throughput") as server:
        api = Api(server, unique_name("t"))
        runs = [concurrent_run(api, f"conc{i}", 1000) for i in range(repeats)]
        success = statistics.median(r[0] for r in runs)
        visible = statistics.median(r[1] for r in runs)
        errors = sum(r[2] for r in runs)
        print(
            f"1,000 one-artifact publishes, concurrency 16 (median of {repeats}): "
            f"{success:.0f} artifacts/s to SUCCESS, {visible:.0f} artifacts/s visible "
            f"in timestamp.json, {errors} errors"
        )
        big = [big_version_run(api, f"big{i}", 10_000) for i in range(repeats)]
        print(
            f"one version with 10,000 artifacts (median of {repeats}): "
            f"{statistics.median(big):.2f} s to SUCCESS"
        )
        print(f"server peak RSS over the throughput runs: {peak_rss_mb(server):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=3, help="runs of the throughput cases")
    parser.add_argument("--skip-latency", action="store_true", help="only the throughput cases")
    parser.add_argument(
        "--skip-cost", action="store_true", help="leave out the cost table (bench.cost)"
    )
    cost.add_arguments(parser, runs=False)
    args = parser.parse_args()
    cells: dict[tuple[str, int], Cell] = {}
    with tempfile.TemporaryDirectory() as raw:
        workdir = Path(raw)
        if not args.skip_latency:
            cells = latency_table(workdir, args.runs, args.sizes)
        throughput(workdir, args.repeats)
    if not args.skip_cost:
        known: dict[int, cost.Measured] = {}
        if ("bins", 10_000) in cells:  # row 6 is this table's cell: measured once
            cell = cells["bins", 10_000]
            known[6] = cost.Measured(
                cell["median_ms"], f"median of {args.runs} (latency table above)"
            )
        print()
        print(cost.cost_table(list(cost.ALL_ROWS), cost.options(args), known))


if __name__ == "__main__":
    main()
