"""The crash loop of ``test_crash_consistency`` with the state store lost as well.

Embedded mode: between bursts of uploads, publishes, removals and deletions the
server is SIGKILLed (which also drops every SQLite connection) and, every
other cycle, its state store file (``state.db``) is wiped before the restart.
The repository's state is then rebuilt from the object store by
``POST /tuf/v1/bootstrap/recovery`` (docs/recovery, ``tuf/recovery.py``).
After each cycle: every accepted task whose record survived ends, every path
TUF lists has its file with the listed length and sha256, every registry row
has its file, every row marked signed is listed, and ngclient verifies a
download.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.crash import Crashable
from tests.e2e.test_crash_consistency import (
    APP,
    Traffic,
    check_consistent,
    run_traffic,
    tuf_listing,
    wait_settled,
)
from tests.support import Api, ceremony, unique_name

pytestmark = pytest.mark.slow
CYCLES = 6
BUDGET_SECONDS = 45.0


def signed_rows(data_dir: Path) -> dict[str, str]:
    conn = sqlite3.connect(data_dir / "tufsync.db")
    try:
        rows = conn.execute("SELECT tuf_path, sha256 FROM artifacts WHERE tuf_signed").fetchall()
    finally:
        conn.close()
    return dict(rows)


def check_signed_listed(node: Crashable, admin: str) -> None:
    listed = tuf_listing(node.data_dir / "public", admin)
    for path, sha256 in signed_rows(node.data_dir).items():
        assert path in listed, f"registry row {path} is marked signed but TUF does not list it"
        assert listed[path]["hashes"]["sha256"] == sha256, path


def wipe_state(node: Crashable) -> None:
    """Lose the embedded state store (the server is down)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        (node.data_dir / f"state.db{suffix}").unlink(missing_ok=True)


def recover(api: Api) -> None:
    response = api.post("/tuf/v1/bootstrap/recovery", json={"appName": APP, "timeout": 30})
    assert response.status_code == 202, response.text
    task = api.wait_task(response.json()["data"]["task_id"], timeout=30)
    assert task["state"] == "SUCCESS", task


def test_sigkills_and_state_store_wipes_keep_registry_and_tuf_consistent(
    tmp_path: Path,
) -> None:
    node = Crashable(tmp_path / "data")
    node.start()
    rng = random.Random(20261207)
    try:
        api = Api(node.server, unique_name("sl"))  # type: ignore[arg-type]
        api.http.timeout = httpx.Timeout(10)
        cer = ceremony(node.data_dir / "keys", api.username, APP)
        api.bootstrap_ok(cer.payload)
        root = tmp_path / "root.json"
        root.write_bytes(cer.root_bytes)
        stop, go = threading.Event(), threading.Event()
        traffic = [Traffic(api, seed) for seed in (3, 4)]
        threads = [
            threading.Thread(target=run_traffic, args=(t, stop, go, f"{i}"), daemon=True)
            for i, t in enumerate(traffic)
        ]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        cycles = wipes = 0
        last: dict[str, int] = {}
        while cycles < CYCLES and time.monotonic() - began < BUDGET_SECONDS:
            go.set()
            time.sleep(rng.uniform(0.3, 1.5))
            node.kill()
            wiped = cycles % 2 == 1
            if wiped:
                wipe_state(node)
                wipes += 1
            node.start()
            if wiped:
                go.clear()
                time.sleep(0.3)  # requests in flight end
                recover(api)
            wait_settled(node)
            go.clear()
            time.sleep(0.3)
            wait_settled(node)
            cycles += 1
            last = check_consistent(node, api.username, root, tmp_path / f"c{cycles}")
            check_signed_listed(node, api.username)
        stop.set()
        go.set()
        for thread in threads:
            thread.join(timeout=15)
        print(f"\nstate-loss cycles: {cycles} ({wipes} wipes), final listing {last}")
        assert cycles >= 4 and wipes >= 2
        for t in traffic:
            for task_id in t.tasks:
                response = api.get("/tuf/v1/task", params={"task_id": task_id})
                if response.status_code == 404:
                    continue  # its record went with the state store; checked above
                state = api.wait_task(task_id, timeout=10)["state"]
                assert state in ("SUCCESS", "FAILURE")
    finally:
        node.stop()
