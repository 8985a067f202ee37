"""No leaks and no leftovers (docs/api.md §6).

/ready names only the failing part, within about 2 s; staging objects of uploads
that a crash interrupted are swept at start-up; the signup key is printed only
when it is first generated; the data directory is 0700 and its databases and
secrets 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import PASSWORD, SIGNUP_KEY, free_port, run_server, unique_name
from tufsync import tenant_keys


def test_ready_names_only_the_failing_part_quickly(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens here: the S3 endpoint is down
    env = {
        "TUFSYNC_STORAGE_URL": "s3://secret-bucket-name/secret-prefix",
        "TUFSYNC_S3_ENDPOINT": f"http://127.0.0.1:{dead}",
        "TUFSYNC_S3_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "TUFSYNC_S3_SECRET_ACCESS_KEY": "secret-access-key",
    }
    with run_server(tmp_path / "srv", env) as server:
        started = time.monotonic()
        response = httpx.get(f"{server.url}/ready", timeout=30)
        took = time.monotonic() - started
        print(f"/ready with the S3 endpoint down answered in {took:.2f} s: {response.text}")
        assert response.status_code == 503
        assert response.json() == {"error": "object store is not answering"}
        assert took < 2.5
        for secret in ("secret-bucket-name", "secret-prefix", "127.0.0.1", str(dead), "AKID"):
            assert secret not in response.text


def staging_dir(data: Path) -> Path:
    return data / "public" / tenant_keys.STAGING_PREFIX.rstrip("/")


@pytest.mark.slow
def test_staging_leftovers_of_a_crash_are_swept_at_start(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    with run_server(data) as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        http.post(
            "/signup", json={"username": "alice", "password": PASSWORD, "api_key": SIGNUP_KEY}
        )
        token = http.post("/login", json={"username": "alice", "password": PASSWORD}).json()
        http.headers["Authorization"] = f"Bearer {token['token']}"
        assert http.post("/app/create", json={"app": "app"}).status_code == 200

        def upload() -> None:  # 128 MiB, cut short by the crash
            chunk = os.urandom(1024 * 1024)
            files = {"file": ("big.bin", b"".join([chunk] * 128))}
            data_field = {"data": json.dumps({"app_name": "app", "version": "1.0"})}
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(
                    f"{server.url}/upload",
                    data=data_field,
                    files=files,
                    headers=dict(http.headers),
                    timeout=60,
                )

        uploader = threading.Thread(target=upload)
        uploader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(staging_dir(data).glob("*")):
            time.sleep(0.005)
        caught = sorted(p.name for p in staging_dir(data).glob("*"))
        print(f"killed the server with staging holding {caught}")
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        uploader.join()
    # Whatever the crash caught, add what an interrupted copy leaves: a whole staging
    # object and a partial write (``name#N``, which object listings never show).
    staging = staging_dir(data)
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "0123456789abcdef0123456789abcdef").write_bytes(b"x" * 4096)
    (staging / "fedcba9876543210fedcba9876543210#3").write_bytes(b"y" * 4096)
    assert any(staging.iterdir())
    with run_server(data) as server:
        assert httpx.get(f"{server.url}/health").status_code == 200
        assert list(staging.iterdir()) == []


def test_signup_key_printed_only_when_generated(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    env = {"TUFSYNC_SIGNUP_KEY": ""}  # not configured: the server generates one
    with run_server(data, env) as server:
        first_log = server.log()
    key = json.loads((data / "secrets.json").read_text())["signup_key"]
    assert key in first_log
    with run_server(data, env) as server:
        second_log = server.log()
        name = unique_name()
        signup = httpx.post(
            f"{server.url}/signup",
            json={"username": name, "password": PASSWORD, "api_key": key},
        )
        assert signup.status_code == 200
    assert key not in second_log
    assert "secrets.json" in second_log
    with run_server(data) as server:  # TUFSYNC_SIGNUP_KEY set by the operator
        assert SIGNUP_KEY not in server.log() and key not in server.log()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    with run_server(data) as server:
        api = httpx.Client(base_url=server.url, timeout=60)
        api.post("/signup", json={"username": "bob_x", "password": PASSWORD, "api_key": SIGNUP_KEY})
    assert mode(data) == 0o700
    for name in ("tufsync.db", "state.db", "secrets.json"):
        assert mode(data / name) == 0o600, name
    for side in data.glob("*.db-*"):
        assert mode(side) == 0o600, side.name
    # A directory an older version left open is tightened at the next start.
    os.chmod(data, 0o755)
    for name in ("tufsync.db", "state.db", "secrets.json"):
        os.chmod(data / name, 0o644)
    with run_server(data):
        assert mode(data) == 0o700
        for name in ("tufsync.db", "state.db", "secrets.json"):
            assert mode(data / name) == 0o600, name
