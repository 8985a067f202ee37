"""The README walkthrough, command by command, through the real `tufsync` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import PASSWORD, SIGNUP_KEY, ServerProcess, unique_name

pytestmark = pytest.mark.slow


def test_cli_walkthrough(server: ServerProcess, tmp_path: Path) -> None:
    admin = unique_name("cli")
    env = {
        **os.environ,
        "TUFSYNC_CLI_CONFIG": str(tmp_path / "cli.json"),
        "TUFSYNC_DATA_DIR": str(server.data_dir),
    }

    def tufsync(*args: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-m", "tufsync", *args, "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return dict(json.loads(done.stdout))

    response = httpx.post(
        f"{server.url}/signup",
        json={"username": admin, "password": PASSWORD, "api_key": SIGNUP_KEY},
    )
    assert response.status_code == 200
    login = subprocess.run(
        [
            sys.executable,
            "-m",
            "tufsync",
            "login",
            "-u",
            admin,
            "-p",
            PASSWORD,
            "--url",
            server.url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "logged in" in login.stdout

    (tmp_path / "myapp.deb").write_bytes(b"release bytes")
    uploaded = tufsync(
        "upload",
        "--app",
        "myapp",
        "--version",
        "1.0",
        "--platform",
        "linux",
        "--arch",
        "x64",
        "myapp.deb",
    )
    assert uploaded["version_id"]
    keys = [tufsync("keys", "new", "--out", "root-keys") for _ in range(3)]
    cer = tufsync(
        "ceremony",
        "--app",
        "myapp",
        "--admin",
        admin,
        "--root-key",
        str(keys[0]["private_key_file"]),
        "--root-key",
        str(keys[1]["private_key_file"]),
        "--root-pub",
        f"root-keys/{keys[2]['keyid']}.pub.json",
        "--threshold",
        "2",
        "--out",
        "bootstrap.json",
    )
    assert cer["root_threshold"] == 2
    assert tufsync("bootstrap", "bootstrap.json")["state"] == "SUCCESS"
    assert tufsync("publish", "--app", "myapp", "--version", "1.0")["state"] == "SUCCESS"

    root = json.loads((tmp_path / "bootstrap.json").read_text())["metadata"]["root"]
    (tmp_path / "root.json").write_text(json.dumps(root))
    target = f"myapp-{admin}/default/linux/x64/myapp-1.0.deb"
    verified = tufsync(
        "verify",
        target,
        "--root",
        "root.json",
        "--admin",
        admin,
        "--app",
        "myapp",
        "--public-url",
        server.public_url,
    )
    assert verified["verified"] == target
    assert verified["length"] == len(b"release bytes")
