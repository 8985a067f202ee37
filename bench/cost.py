"""The cost of a request: server CPU per operation, one table of the goal rows.

Run: python -m bench.cost [--rows 1,2,3,4,5,6] [--count 1000] [--seconds 10] [--profile DIR]

Every row starts its own server (embedded mode: SQLite, local files, in-process worker; row 5:
one API process and one worker on Redis + PostgreSQL) and measures it from outside:
- CPU is ``utime + stime`` from ``/proc/<pid>/stat`` of every server process and its
  descendants (all threads; reaped children through ``cutime + cstime``), read just before the
  first request and just after the last answer (bench/procstat.py). Client CPU never counts:
  rows 2-4 load the server with wrk (a C process), rows 1 and 5 poll from this process.
- Row 1/5: ``--count`` one-artifact versions are uploaded first (not counted); then 16 client
  threads each publish one version and poll GET /tuf/v1/task every 250 ms until SUCCESS, then
  take the next; CPU from the first publish to the last SUCCESS ÷ artifacts.
- Row 2: GET /whoami with a login token, wrk, 16 connections: CPU ÷ requests completed
  (GET /health the same way, for reference).
- Row 3: POST /upload of one distinct 1 KiB file and version per request, wrk with a Lua script
  that builds each multipart body, 8 connections; every answer must be 200. The window runs on
  until the server is idle (uploads wrk cut at its deadline finish) and CPU is divided by the
  versions the server stored (GET /search total).
- Row 4: wrk, 16 connections, GET /health and GET /public/tuf_metadata/<admin>/<app>/
  timestamp.json of a bootstrapped app on the same server, two alternating rounds of
  ``--seconds``/2 each: the ratio of requests/s.
- Row 6: bench.suite's latency cell: single-artifact publish → SUCCESS, median, 1024 hash bins,
  10,000 existing targets.
Tools: ``scripts/ensure-bench-tools.sh`` installs wrk (Debian package) and py-spy (bench extra).
The machine is shared: the header prints the load average; compare figures of one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from tests.scaleout import upgrade_database
from tests.support import Api, ServerProcess, ceremony, run_server, start_tufsync, unique_name

from bench import wrk
from bench.procstat import CpuMeter, settle
from bench.profiler import SUFFIX, profiled, require_py_spy

IN_FLIGHT = 16
UPLOAD_IN_FLIGHT = 8
POLL_SECONDS = 0.25
ALL_ROWS = (1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class Goal:
    figure: str
    today: str
    goal: float
    unit: str
    higher_is_better: bool = False

    def met(self, value: float) -> bool:
        return value >= self.goal if self.higher_is_better else value <= self.goal

    def text(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {self.goal:g}{self.unit}"


GOALS = {
    1: Goal("server CPU / published artifact (embedded, 16 in flight)", "9.7 ms", 2.0, " ms"),
    2: Goal("server CPU / authenticated request (GET /whoami)", "1.0-1.5 ms", 0.5, " ms"),
    3: Goal("server CPU / uploaded 1 KiB artifact (8 in flight)", "8.8-11.4 ms", 2.0, " ms"),
    4: Goal("timestamp.json rps ÷ /health rps (wrk, 16 conns)", "0.27", 0.6, "", True),
    5: Goal("server CPU / artifact, scale-out (API + worker)", "not measured", 3.0, " ms"),
    6: Goal("1-artifact publish → SUCCESS median, bins, 10k", "~26 ms", 20.0, " ms"),
}


@dataclass
class Measured:
    value: float
    detail: str
    errors: int = 0


@dataclass(frozen=True)
class Options:
    count: int = 1000
    seconds: float = 10.0
    runs: int = 9
    profile: Path | None = None
    profile_format: str = "speedscope"


# --- rows 1 and 5: publishing ------------------------------------------------------------


def upload_versions(api: Api, app: str, count: int) -> list[tuple[str, str]]:
    """``count`` one-artifact versions of ``app`` (version id, version), uploaded in parallel."""

    def one(i: int) -> tuple[str, str]:
        version = f"2.{i}"
        return api.upload_ok(app, version, {"c.bin": f"{app} {i}".encode()}), version

    with ThreadPoolExecutor(UPLOAD_IN_FLIGHT) as pool:
        return list(pool.map(one, range(count)))


def publish_and_wait(api: Api, job: tuple[str, str], timeout: float = 600) -> bool:
    """Publish one version and poll its task every 250 ms; True when it reached SUCCESS."""
    response = api.post("/tuf/v1/artifacts/publish", json={"app_id": job[0], "version": job[1]})
    if response.status_code != 202:
        return False
    task_id = response.json()["data"]["task_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        answer = api.get("/tuf/v1/task", params={"task_id": task_id})
        if answer.status_code != 200:
            return False
        state = answer.json()["data"]["state"]
        if state in ("SUCCESS", "FAILURE"):
            return bool(state == "SUCCESS")
    return False


def publish_run(
    api: Api, key_dir: Path, pids: dict[str, int], opts: Options, phase: str
) -> Measured:
    """Row 1/5: CPU of ``pids`` per artifact over ``opts.count`` publishes, 16 in flight."""
    app = "cost"
    bootstrap_app_at(api, key_dir, app)
    jobs = upload_versions(api, app, opts.count)
    meters = {name: CpuMeter([pid]) for name, pid in pids.items()}
    with profiled(opts.profile, phase, pids, opts.profile_format):
        for meter in meters.values():
            meter.start()
        start = time.perf_counter()
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            results = list(pool.map(lambda job: publish_and_wait(api, job), jobs))
        elapsed = time.perf_counter() - start
        for meter in meters.values():
            meter.stop()
    cpu = sum(meter.seconds for meter in meters.values())
    errors = results.count(False)
    per_process = ""
    if len(meters) > 1:
        shares = ", ".join(
            f"{name} {meter.seconds / opts.count * 1000:.2f} ms" for name, meter in meters.items()
        )
        per_process = f" ({shares})"
    return Measured(
        cpu / opts.count * 1000,
        f"{opts.count / elapsed:.0f} artifacts/s to SUCCESS, {elapsed:.1f} s, "
        f"CPU {cpu:.2f} s{per_process}, {errors} errors",
        errors,
    )


def bootstrap_app_at(api: Api, key_dir: Path, app: str) -> None:
    """Bootstrap ``app`` with online keys in ``key_dir`` (the server's or the cluster's)."""
    api.bootstrap_ok(ceremony(key_dir, api.username, app).payload)


def row_publish_embedded(workdir: Path, opts: Options) -> Measured:
    with run_server(workdir / "row1") as server:
        api = Api(server, unique_name("c"))
        return publish_run(api, server.key_dir, {"server": server.process.pid}, opts, "row1")


# --- rows 2-4: wrk -------------------------------------------------------------------------


def wrk_cpu(
    server: ServerProcess,
    path: str,
    opts: Options,
    phase: str,
    *,
    connections: int = IN_FLIGHT,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    count: Callable[[], int] | None = None,
) -> tuple[float, wrk.WrkResult]:
    """Server CPU ms per request while wrk loads ``path``, and wrk's summary.

    Requests are those wrk saw completed, or ``count()`` (what the server stored) if given: then
    the window runs on until the server is idle, so requests wrk cut at its deadline finish and
    count on both sides."""
    pids = {"server": server.process.pid}
    meter = CpuMeter(pids.values())
    with profiled(opts.profile, phase, pids, opts.profile_format):
        meter.start()
        result = wrk.run(
            server.url + path,
            connections=connections,
            seconds=opts.seconds,
            headers=headers,
            script=script,
        )
        if count is not None:
            settle(pids.values())
        cpu = meter.stop()
    requests = result.requests if count is None else count()
    return cpu / max(1, requests) * 1000, result


def row_whoami(workdir: Path, opts: Options) -> Measured:
    with run_server(workdir / "row2") as server:
        api = Api(server, unique_name("c"))
        auth = {"Authorization": str(api.http.headers["Authorization"])}
        script = wrk.status_script(workdir)
        whoami, done = wrk_cpu(server, "/whoami", opts, "row2-whoami", headers=auth, script=script)
        health, base = wrk_cpu(server, "/health", opts, "row2-health", script=script)
    return Measured(
        whoami,
        f"{done.requests} requests, {done.rps:.0f} rps; GET /health {health:.3f} ms CPU/request "
        f"({base.rps:.0f} rps); {done.errors + base.errors} errors",
        done.errors + base.errors,
    )


UPLOAD_LUA = """
local boundary = "tufsyncbenchboundary7d1c"
local counter = 0
function request()
  counter = counter + 1
  local version = string.format("3.%d.%d", tid, counter)
  local data = '{"app_name":"APP","version":"' .. version .. '"}'
  local payload = version .. string.rep("x", 1024 - #version)
  local body = "--" .. boundary .. "\\r\\n"
    .. 'Content-Disposition: form-data; name="data"\\r\\n\\r\\n' .. data .. "\\r\\n"
    .. "--" .. boundary .. "\\r\\n"
    .. 'Content-Disposition: form-data; name="file"; filename="c.bin"\\r\\n'
    .. "Content-Type: application/octet-stream\\r\\n\\r\\n" .. payload .. "\\r\\n"
    .. "--" .. boundary .. "--\\r\\n"
  local headers = {}
  headers["Authorization"] = "AUTH"
  headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
  return wrk.format("POST", "/upload", headers, body)
end
"""


def row_upload(workdir: Path, opts: Options) -> Measured:
    with run_server(workdir / "row3") as server:
        api = Api(server, unique_name("c"))
        app = "up"
        bootstrap_app_at(api, server.key_dir, app)
        lua = UPLOAD_LUA.replace("APP", app).replace("AUTH", str(api.http.headers["Authorization"]))
        script = wrk.status_script(workdir, 200, lua)
        stored: list[int] = []

        def uploaded() -> int:
            found = api.get("/search", params={"app_name": app, "limit": 1})
            assert found.status_code == 200, found.text
            stored.append(int(found.json()["total"]))
            return stored[-1]

        cpu, done = wrk_cpu(
            server,
            "/upload",
            opts,
            "row3",
            connections=UPLOAD_IN_FLIGHT,
            script=script,
            count=uploaded,
        )
    return Measured(
        cpu,
        f"{stored[0]} versions stored ({done.requests} answered to wrk, {done.rps:.0f}/s), "
        f"{done.errors} answers not 200",
        done.errors,
    )


def row_public_ratio(workdir: Path, opts: Options) -> Measured:
    with run_server(workdir / "row4") as server:
        api = Api(server, unique_name("c"))
        bootstrap_app_at(api, server.key_dir, "pub")
        path = f"/public/tuf_metadata/{api.username}/pub/timestamp.json"
        assert api.get(path).status_code == 200, path
        script = wrk.status_script(workdir)
        runs: dict[str, list[tuple[float, wrk.WrkResult]]] = {"health": [], "timestamp": []}
        half = replace(opts, seconds=max(1.0, opts.seconds / 2))
        for round_no in range(2):  # alternate, so drifting load hits both sides alike
            for name, target in (("health", "/health"), ("timestamp", path)):
                run_opts = half if round_no == 0 else replace(half, profile=None)
                runs[name].append(wrk_cpu(server, target, run_opts, f"row4-{name}", script=script))
    health, ts = (combined(runs[name]) for name in ("health", "timestamp"))
    return Measured(
        ts[1] / health[1],
        f"timestamp.json {ts[1]:.0f} rps ({ts[0]:.3f} ms CPU/req), /health {health[1]:.0f} "
        f"rps ({health[0]:.3f} ms CPU/req), 2 alternating rounds; {ts[2] + health[2]} errors",
        ts[2] + health[2],
    )


def combined(runs: list[tuple[float, wrk.WrkResult]]) -> tuple[float, float, int]:
    """CPU ms per request, requests/s and errors over several wrk runs."""
    requests = sum(result.requests for _, result in runs)
    cpu_ms = sum(cpu * result.requests for cpu, result in runs)
    seconds = sum(result.seconds for _, result in runs)
    errors = sum(result.errors for _, result in runs)
    return cpu_ms / max(1, requests), requests / seconds, errors


# --- row 5: scale-out --------------------------------------------------------------------


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards); its SQLAlchemy URL."""
    from tests.scaleout import _admin

    name = f"tufsync_cost_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_database() -> Iterator[str]:
    """This checkout's Redis test database (TUFSYNC_TEST_REDIS_DB), flushed before and after."""
    import redis
    from tests.scaleout import REDIS_BASE, TEST_REDIS_DB

    url = f"{REDIS_BASE}/{TEST_REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def row_publish_scaleout(workdir: Path, opts: Options) -> Measured:
    root = workdir / "row5"
    with ExitStack() as stack:
        env = {
            "TUFSYNC_REDIS_URL": stack.enter_context(redis_database()),
            "TUFSYNC_DATABASE_URL": stack.enter_context(postgres_database()),
            "TUFSYNC_STORAGE_URL": (root / "public").as_uri(),
            "TUFSYNC_ONLINE_KEY_DIR": str(root / "keys"),
            "TUFSYNC_JWT_SECRET": "cost-bench-secret-0123456789abcdef012345",
            "TUFSYNC_LOG_LEVEL": "warning",
        }
        upgrade_database(env)
        server = stack.enter_context(run_server(root / "api", env))
        worker, _ = start_tufsync("worker", root / "worker", env, "worker.log")
        stack.callback(stop_process, worker)
        api = Api(server, unique_name("c"))
        pids = {"api": server.process.pid, "worker": worker.pid}
        measured = publish_run(api, root / "keys", pids, opts, "row5")
        if worker.poll() is not None:
            measured.detail += f"; worker exited ({worker.returncode})"
        return measured


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- row 6 ---------------------------------------------------------------------------------


def row_latency(workdir: Path, opts: Options) -> Measured:
    from bench.suite import latency_cell

    cell = latency_cell(workdir / "row6", "bins", 10_000, opts.runs)
    return Measured(
        cell["median_ms"], f"median of {opts.runs}, p95 {cell['p95_ms']:.1f} ms, 1024 bins"
    )


ROWS: dict[int, Callable[[Path, Options], Measured]] = {
    1: row_publish_embedded,
    2: row_whoami,
    3: row_upload,
    4: row_public_ratio,
    5: row_publish_scaleout,
    6: row_latency,
}


# --- the table -----------------------------------------------------------------------------


def header() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = "?"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"tufsync cost table — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"commit {commit or '?'}, {os.cpu_count()} CPUs, load average {load}"
    )


def format_table(results: dict[int, Measured | str]) -> str:
    lines = [f"{'#':>2}  {'figure':56} {'today':>12} {'goal':>9} {'measured':>10} {'':8}  detail"]
    for row, outcome in sorted(results.items()):
        goal = GOALS[row]
        if isinstance(outcome, str):
            value, verdict, detail = "-", "FAILED", outcome
        else:
            unit = goal.unit.strip()
            value = f"{outcome.value:.3f}" if not unit else f"{outcome.value:.2f} {unit}"
            met = goal.met(outcome.value) and outcome.errors == 0
            verdict = "met" if met else "NOT MET"
            detail = outcome.detail
        lines.append(
            f"{row:>2}  {goal.figure:56} {goal.today:>12} {goal.text():>9} {value:>10} "
            f"{verdict:8}  {detail}"
        )
    return "\n".join(lines)


def cost_table(rows: list[int], opts: Options, known: dict[int, Measured] | None = None) -> str:
    """Measure ``rows`` (rows in ``known`` are taken as given) and return the printed table."""
    if {2, 3, 4} & set(rows):
        wrk.require_wrk()
    if opts.profile is not None:
        require_py_spy()
    print(header(), flush=True)
    results: dict[int, Measured | str] = dict(known or {})
    with tempfile.TemporaryDirectory() as raw:
        for row in rows:
            if row in results:
                continue
            started = time.perf_counter()
            print(f"row {row}: {GOALS[row].figure} ...", flush=True)
            try:
                results[row] = ROWS[row](Path(raw), opts)
            except Exception as exc:  # one broken row must not hide the others
                results[row] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            print(f"row {row}: done in {time.perf_counter() - started:.0f} s", flush=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    table = format_table({row: results[row] for row in rows if row in results})
    return f"{table}\nload average after: {load}"


def parse_rows(text: str) -> list[int]:
    rows = sorted({int(part) for part in text.split(",") if part.strip()})
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        raise argparse.ArgumentTypeError(f"no such row: {unknown}; rows are 1-6")
    return rows


def add_arguments(parser: argparse.ArgumentParser, *, runs: bool = True) -> None:
    parser.add_argument(
        "--count", type=int, default=1000, help="publishes in rows 1 and 5 (default 1000)"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="duration of each wrk run (default 10)"
    )
    if runs:
        parser.add_argument("--runs", type=int, default=9, help="publishes timed in row 6")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="run py-spy record on the server process(es) during each row, one file per "
        "measured phase in DIR",
    )
    parser.add_argument(
        "--profile-format",
        choices=sorted(SUFFIX),
        default="speedscope",
        help="py-spy output format (default speedscope: open at https://www.speedscope.app)",
    )


def options(args: argparse.Namespace) -> Options:
    return Options(
        count=args.count,
        seconds=args.seconds,
        runs=args.runs,
        profile=args.profile,
        profile_format=args.profile_format,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=parse_rows, default=list(ALL_ROWS), help="e.g. 1,2,4 (default all)"
    )
    add_arguments(parser)
    args = parser.parse_args()
    print(cost_table(args.rows, options(args)))


if __name__ == "__main__":
    main()
