"""Scale-out observability for real: `serve --workers 2` sharing its counters through
prometheus-client's multi-process mode, and a worker's own health and metrics port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_observability import sample
from tests.scaleout import upgrade_database
from tests.support import SIGNUP_KEY, Api, ServerProcess, ceremony, free_port, start_tufsync

pytestmark = pytest.mark.slow


def wait_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


@pytest.fixture
def scale_env(tmp_path: Path, pg_url: str, redis_db: str) -> dict[str, str]:
    env = {
        "TUFSYNC_REDIS_URL": redis_db,
        "TUFSYNC_DATABASE_URL": pg_url,
        "TUFSYNC_STORAGE_URL": (tmp_path / "public").as_uri(),
        "TUFSYNC_ONLINE_KEY_DIR": str(tmp_path / "keys"),
        "TUFSYNC_JWT_SECRET": "observability-secret-0123456789abcdef",
        "TUFSYNC_SIGNUP_KEY": SIGNUP_KEY,
        "TUFSYNC_LOG_LEVEL": "warning",
    }
    (tmp_path / "public").mkdir()
    upgrade_database(env)
    return env


@pytest.fixture
def api_processes(tmp_path: Path, scale_env: dict[str, str]) -> Iterator[ServerProcess]:
    port = free_port()
    data_dir = tmp_path / "api"
    data_dir.mkdir()
    log_path = data_dir / "server.log"
    env = {**os.environ, **scale_env, "TUFSYNC_DATA_DIR": str(data_dir), "TUFSYNC_PORT": str(port)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tufsync", "serve", "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", data_dir, process, log_path)
    try:
        wait_up(f"{server.url}/ready", process, log_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_two_api_processes_count_every_request_on_one_page(api_processes: ServerProcess) -> None:
    assert (api_processes.data_dir / "prometheus").is_dir()
    before = sample(
        httpx.get(f"{api_processes.url}/metrics").text,
        "tufsync_http_requests_total",
        route="/health",
        missing=0,
    )
    with httpx.Client(base_url=api_processes.url) as http:
        for _ in range(40):
            assert http.get("/health").status_code == 200
    # Each scrape lands on either process; every one shows the sum of both.
    for _ in range(6):
        page = httpx.get(f"{api_processes.url}/metrics").text
        assert sample(page, "tufsync_http_requests_total", route="/health") - before == 40
    # Both processes answered some of them: each keeps its own counter file.
    counters = list((api_processes.data_dir / "prometheus").glob("counter_*.db"))
    assert len(counters) == 2, counters


def test_worker_serves_health_and_its_task_metrics(
    tmp_path: Path, scale_env: dict[str, str], api_processes: ServerProcess
) -> None:
    api = Api(api_processes, "obsworker")
    version_id = api.upload_ok("wapp", "1.0", {"w.bin": b"worker " * 10})
    cer = ceremony(Path(scale_env["TUFSYNC_ONLINE_KEY_DIR"]), api.username, "wapp")
    # No worker yet: the accepted bootstrap waits in the queue.
    response = api.post("/tuf/v1/bootstrap", json=cer.payload)
    assert response.status_code in (200, 202), response.text
    waiting = httpx.get(f"{api_processes.url}/metrics").text
    assert sample(waiting, "tufsync_task_queue_depth") == 1

    port = free_port()
    worker, log = start_tufsync(
        "worker", tmp_path / "worker", {**scale_env, "TUFSYNC_WORKER_PORT": str(port)}, "w.log"
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/health", worker, log)
        assert httpx.get(f"{base}/health").json() == {"status": "healthy", "role": "worker"}
        assert httpx.get(f"{base}/ready").json() == {"status": "ready"}
        assert api.wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"
        task = api.publish_ok(version_id, "1.0")
        page = httpx.get(f"{base}/metrics").text
        assert sample(page, "tufsync_tasks_total", task="bootstrap", outcome="success") == 1
        name = task["result"]["task"]
        assert sample(page, "tufsync_tasks_total", task=name, outcome="success") == 1
        assert sample(page, "tufsync_task_queue_depth") == 0
        # The API processes ran no task: their page has no task counts.
        api_page = httpx.get(f"{api_processes.url}/metrics").text
        assert "tufsync_tasks_total{" not in api_page
        assert sample(api_page, "tufsync_task_queue_depth") == 0
        assert (
            sample(
                api_page,
                "tufsync_role_expires_in_seconds",
                admin=api.username,
                app="wapp",
                role="snapshot",
            )
            > 0
        )
    finally:
        worker.terminate()
        worker.wait(timeout=15)
