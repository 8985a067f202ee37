"""SIGKILL the embedded server at random moments during mixed traffic.

Two client threads upload, publish, remove from TUF, delete and re-upload
artifacts while the server is killed (SIGKILL) and restarted at once, about
20 times. After each restart, with the traffic paused, every path TUF lists
has its file with the listed length and sha256, every registry row has its
file, no task is left unfinished, and ngclient refreshes and downloads.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.crash import Crashable
from tests.support import Api, ceremony, unique_name
from tufsync.keyholder.verify import verify_download

pytestmark = pytest.mark.slow
APP = "mix"
CYCLES = 10
BUDGET_SECONDS = 60.0
SETTLE_SECONDS = 15.0


class Traffic:
    """Random registry and TUF requests; errors while the server is down are expected."""

    def __init__(self, api: Api, seed: int) -> None:
        self.api = api
        self.rng = random.Random(seed)
        self.versions: dict[str, str] = {}  # version -> version id
        self.deleted: list[str] = []
        self.counter = 0
        self.tasks: list[str] = []
        self.requests = 0
        self.lock = threading.Lock()

    def _bytes(self) -> bytes:
        return self.rng.randbytes(self.rng.randint(1, 64 * 1024))

    def step(self, tag: str) -> None:
        op = self.rng.choice(["upload", "upload", "publish", "publish", "remove", "delete"])
        if op == "upload":
            if self.deleted and self.rng.random() < 0.5:
                version = self.deleted.pop()
            else:
                self.counter += 1
                version = f"{tag}.{self.counter}"
            response = self.api.upload(APP, version, {"pkg.bin": self._bytes()})
            if response.status_code == 200:
                self.versions[version] = response.json()["uploadResult.Uploaded"]
        elif self.versions:
            version, vid = self.rng.choice(sorted(self.versions.items()))
            if op == "publish":
                response = self.api.post(
                    "/tuf/v1/artifacts/publish", json={"app_id": vid, "version": version}
                )
                self._task(response, response.json().get("data", {}) if response.is_success else {})
            else:
                body = {
                    "id": vid,
                    "app_name": APP,
                    "version": version,
                    "artifacts_to_delete": ["0"],
                }
                route = "/tuf/v1/artifacts/delete" if op == "remove" else "/artifact/delete"
                response = self.api.post(route, json=body)
                data = response.json() if response.is_success else {}
                self._task(response, data.get("data", data))
                if op == "delete" and response.status_code == 200:
                    del self.versions[version]
                    self.deleted.append(version)
        self.requests += 1

    def _task(self, response: httpx.Response, data: dict[str, Any]) -> None:
        assert response.status_code < 500, response.text
        if data.get("task_id"):
            self.tasks.append(str(data["task_id"]))


def run_traffic(traffic: Traffic, stop: threading.Event, go: threading.Event, tag: str) -> None:
    while not stop.is_set():
        go.wait()
        if stop.is_set():
            return
        try:
            traffic.step(tag)
        except (httpx.HTTPError, json.JSONDecodeError):
            time.sleep(0.05)  # the server is down or restarting


def tuf_listing(public: Path, admin: str) -> dict[str, dict[str, Any]]:
    """Every target the published metadata lists: path -> {length, hashes}."""
    folder = public / "tuf_metadata" / admin / APP
    timestamp = json.loads((folder / "timestamp.json").read_bytes())
    snap_version = timestamp["signed"]["meta"]["snapshot.json"]["version"]
    snapshot = json.loads((folder / f"{snap_version}.snapshot.json").read_bytes())
    listed: dict[str, dict[str, Any]] = {}
    for name, meta in snapshot["signed"]["meta"].items():
        role = json.loads((folder / f"{meta['version']}.{name}").read_bytes())
        listed.update(role["signed"]["targets"])
    return listed


def check_consistent(node: Crashable, admin: str, root: Path, work: Path) -> dict[str, int]:
    public = node.data_dir / "public"
    listed = tuf_listing(public, admin)
    for path, info in listed.items():
        file = public / path
        assert file.is_file(), f"TUF lists {path} but its file is missing"
        data = file.read_bytes()
        assert len(data) == info["length"], path
        assert hashlib.sha256(data).hexdigest() == info["hashes"]["sha256"], path
    conn = sqlite3.connect(node.data_dir / "tufsync.db")
    try:
        rows = conn.execute("SELECT tuf_path, length, sha256 FROM artifacts").fetchall()
    finally:
        conn.close()
    for path, length, sha256 in rows:
        file = public / path
        assert file.is_file(), f"registry row {path} has no file"
        data = file.read_bytes()
        assert len(data) == length and hashlib.sha256(data).hexdigest() == sha256, path
    if listed:
        target = sorted(listed)[0]
        assert node.server is not None
        verify_download(node.server.public_url, admin, APP, root, target, work, work / "meta")
    return {"listed": len(listed), "rows": len(rows)}


def wait_settled(node: Crashable) -> float:
    started = time.monotonic()
    while node.unfinished_tasks():
        assert time.monotonic() - started < SETTLE_SECONDS, node.unfinished_tasks()
        time.sleep(0.05)
    return time.monotonic() - started


def test_random_sigkills_keep_registry_tuf_and_tasks_consistent(tmp_path: Path) -> None:
    node = Crashable(tmp_path / "data")
    node.start()
    rng = random.Random(20261122)
    try:
        api = Api(node.server, unique_name("cc"))  # type: ignore[arg-type]
        api.http.timeout = httpx.Timeout(10)
        cer = ceremony(node.data_dir / "keys", api.username, APP)
        api.bootstrap_ok(cer.payload)
        root = tmp_path / "root.json"
        root.write_bytes(cer.root_bytes)
        stop, go = threading.Event(), threading.Event()
        traffic = [Traffic(api, seed) for seed in (1, 2)]
        threads = [
            threading.Thread(target=run_traffic, args=(t, stop, go, f"{i}"), daemon=True)
            for i, t in enumerate(traffic)
        ]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        settle_times: list[float] = []
        cycles = 0
        last: dict[str, int] = {}
        while cycles < CYCLES and time.monotonic() - began < BUDGET_SECONDS:
            go.set()
            time.sleep(rng.uniform(0.2, 1.5))
            node.kill()
            node.start()
            settle_times.append(wait_settled(node))
            go.clear()
            time.sleep(0.3)  # requests in flight end
            settle_times[-1] = max(settle_times[-1], wait_settled(node))
            cycles += 1
            last = check_consistent(node, api.username, root, tmp_path / f"c{cycles}")
        stop.set()
        go.set()
        for thread in threads:
            thread.join(timeout=15)
        requests = sum(t.requests for t in traffic)
        tasks = sum(len(t.tasks) for t in traffic)
        print(
            f"\ncrash cycles: {cycles} in {time.monotonic() - began:.1f}s, requests {requests}, "
            f"tasks {tasks}, final listing {last}, restart->no unfinished task: "
            f"max {max(settle_times):.2f}s, mean {sum(settle_times) / len(settle_times):.2f}s"
        )
        assert cycles >= 5
        for t in traffic:
            for task_id in t.tasks:
                assert api.wait_task(task_id, timeout=10)["state"] in ("SUCCESS", "FAILURE")
    finally:
        node.stop()
