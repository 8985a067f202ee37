"""Helpers for crash tests: a server on a fixed port that can be SIGKILLed and restarted."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import SIGNUP_KEY, START_SECONDS, ServerProcess, free_port, start_tufsync
from tufsync.testhooks import ENV as PAUSE_ENV


@dataclass
class Crashable:
    """One embedded data directory whose server is killed and started again."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    server: ServerProcess | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, pause: str | None = None) -> ServerProcess:
        """Start the server (``pause``: ``<task>:<step>=<seconds>`` test pause) and wait
        until /health answers."""
        env = {
            "TUFSYNC_DATA_DIR": str(self.data_dir),
            "TUFSYNC_SIGNUP_KEY": SIGNUP_KEY,
            "TUFSYNC_PORT": str(self.port),
            "TUFSYNC_LOG_LEVEL": "warning",
            **self.env,
        }
        if pause:
            env[PAUSE_ENV] = pause
        self.starts += 1
        process, log_path = start_tufsync("serve", self.data_dir, env, f"server-{self.starts}.log")
        server = ServerProcess(self.url, self.data_dir, process, log_path)
        # A server that never answers is killed: it must not outlive the test.
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError(f"server did not start:\n{server.log()}")
            time.sleep(0.05)
        self.server = server
        return server

    def kill(self) -> None:
        """SIGKILL the server: no clean-up code of the process runs."""
        assert self.server is not None
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait()
        self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.process.terminate()
            try:
                self.server.process.wait(timeout=10)
            except Exception:
                self.server.process.kill()
                self.server.process.wait()
            self.server = None

    def wait_log(self, text: str, timeout: float = 30) -> None:
        assert self.server is not None
        deadline = time.monotonic() + timeout
        while text not in self.server.log():
            assert self.server.process.poll() is None, self.server.log()
            assert time.monotonic() < deadline, f"{text!r} not logged:\n{self.server.log()}"
            time.sleep(0.02)

    def state_rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.data_dir / "state.db")
        try:
            with conn:
                return list(conn.execute(sql, args).fetchall())
        finally:
            conn.close()

    def listed_targets(self, admin: str, app: str) -> dict[str, Any]:
        """Every target the app's published metadata lists (timestamp → snapshot → roles)."""
        folder = self.data_dir / "public" / "tuf_metadata" / admin / app
        timestamp = json.loads((folder / "timestamp.json").read_bytes())
        snap = timestamp["signed"]["meta"]["snapshot.json"]["version"]
        snapshot = json.loads((folder / f"{snap}.snapshot.json").read_bytes())
        listed: dict[str, Any] = {}
        for name, meta in snapshot["signed"]["meta"].items():
            role = json.loads((folder / f"{meta['version']}.{name}").read_bytes())
            listed.update(role["signed"]["targets"])
        return listed

    def registry_rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the registry database (``tufsync.db``)."""
        conn = sqlite3.connect(self.data_dir / "tufsync.db")
        try:
            with conn:
                return list(conn.execute(sql, args).fetchall())
        finally:
            conn.close()

    def assert_listed_files_match(self, admin: str, app: str) -> None:
        """Every path the app's published metadata lists has its file, with the listed
        length and sha256 (what a client's download checks)."""
        for listed_path, info in self.listed_targets(admin, app).items():
            file = self.data_dir / "public" / listed_path
            assert file.exists(), f"TUF lists {listed_path} but its file is missing"
            data = file.read_bytes()
            assert len(data) == info["length"], listed_path
            assert hashlib.sha256(data).hexdigest() == info["hashes"]["sha256"], listed_path

    def settle(self, seconds: float = 60.0) -> None:
        """Wait until no task record is left unfinished."""
        deadline = time.monotonic() + seconds
        while self.unfinished_tasks():
            assert time.monotonic() < deadline, self.unfinished_tasks()
            time.sleep(0.05)

    def wipe_task_records(self) -> None:
        """Lose every task record, as a wiped state store does (server stopped)."""
        self.state_rows("DELETE FROM state_entries WHERE key LIKE 'task:%'")

    def unfinished_tasks(self) -> list[str]:
        rows = self.state_rows("SELECT value FROM state_entries WHERE key LIKE 'task:%'")
        records = [json.loads(r[0]) for r in rows]
        return [
            f"{r['task_id']} {r['name']} {r['state']}"
            for r in records
            if r["state"] not in ("SUCCESS", "FAILURE")
        ]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
