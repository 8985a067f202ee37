"""State and published files that disagree never make a route answer 500 (docs/api.md §1),
and a start-up that fails ends the process with a non-zero status."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import SIGNUP_KEY, Api, ceremony, free_port
from tufsync import tenant_keys
from tufsync.tenant_keys import TenantRef


def test_signing_routes_answer_404_when_published_metadata_is_gone(api: Api) -> None:
    app = "vanished"
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    root = api.get("/tuf/v1/metadata/root", params={"appName": app}).json()["data"]["trusted_root"]
    root["signed"]["version"] = 2
    root["signatures"] = []
    draft = api.post("/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": root}})
    assert api.wait_task(draft.json()["data"]["task_id"])["state"] == "SUCCESS"
    # The state store says "bootstrapped"; the published files are gone.
    shutil.rmtree(api.server.public_dir / tenant_keys.metadata_prefix(TenantRef(api.username, app)))
    q = {"appName": app}
    calls: dict[str, httpx.Response] = {
        "GET sign": api.get("/tuf/v1/metadata/sign", params=q),
        "POST sign": api.post(
            "/tuf/v1/metadata/sign",
            params=q,
            json={"role": "root", "signature": {"keyid": "00" * 32, "sig": "00"}},
        ),
        "POST delegated/rotate": api.post(
            "/tuf/v1/metadata/delegated/rotate", params=q, json={"role": "default", "metadata": {}}
        ),
        "GET root": api.get("/tuf/v1/metadata/root", params=q),
        "GET targets": api.get("/tuf/v1/metadata/targets", params=q),
    }
    for name, response in calls.items():
        assert response.status_code == 404, (name, response.status_code, response.text)
        assert response.json()["error"], name
    # Cancelling the draft needs no published metadata: the owner can still clean up.
    cancel = api.post("/tuf/v1/metadata/sign/delete", params=q, json={"role": "root"})
    assert cancel.status_code == 202, cancel.text
    assert api.wait_task(cancel.json()["data"]["task_id"])["state"] == "SUCCESS"
    rotation = api.post("/tuf/v1/metadata", params=q, json={"metadata": {"root": root}})
    assert rotation.status_code == 404, rotation.text


def test_a_start_up_that_fails_exits_non_zero(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "state.db").write_bytes(b"this is not a SQLite database " * 20)
    env = {
        **os.environ,
        "TUFSYNC_DATA_DIR": str(data),
        "TUFSYNC_PORT": str(free_port()),
        "TUFSYNC_SIGNUP_KEY": SIGNUP_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-m", "tufsync", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,  # it used to hang here, not listening, until killed
    )
    assert done.returncode != 0
    assert "did not start" in done.stderr + done.stdout
