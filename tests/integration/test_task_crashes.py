"""Embedded mode: SIGKILL while each kind of task runs, restart at once.

Each test pauses one task inside its write section (test-only hook
``TUFSYNC_TEST_PAUSE``), kills the server with SIGKILL, starts it again
without the pause and checks that the task ends within seconds and that the
app stays usable (publish + ngclient download). The time from the restart
(server answering /health) to the task's end is printed.
"""

from __future__ import annotations

import copy
import shutil
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root

from tests.crash import Crashable
from tests.support import Api, Ceremony, ceremony, unique_name
from tufsync import tenant_keys
from tufsync.keyholder.verify import verify_download

TAKEOVER_SECONDS = 10.0


def login(node: Crashable, api: Api | None = None) -> Api:
    """An Api for the node's current server (same account across restarts)."""
    assert node.server is not None
    if api is None:
        return Api(node.server, unique_name())
    api.server = node.server
    return api


def crash_and_restart(node: Crashable, api: Api, task_id: str) -> tuple[dict[str, Any], float]:
    """SIGKILL, start again at once, wait for the task; return it and seconds taken."""
    node.kill()
    node.start()
    login(node, api)
    started = time.monotonic()
    task = api.wait_task(task_id, timeout=30)
    took = time.monotonic() - started
    print(f"\n{task['result']['task']}: restart -> {task['state']} in {took:.2f}s")
    assert took < TAKEOVER_SECONDS, took
    assert node.unfinished_tasks() == []
    return task, took


def usable(node: Crashable, api: Api, cer: Ceremony, app: str, tmp: Path, tag: str) -> None:
    """Upload, publish and download one artifact through ngclient."""
    version = f"9.{tag}"
    vid = api.upload_ok(app, version, {"pkg.bin": f"{app} {tag}".encode()})
    api.publish_ok(vid, version)
    root = tmp / f"{app}-{tag}-root.json"
    root.write_bytes(cer.root_bytes)
    target = f"{app}-{api.username}/{app}-{version}.bin"
    assert node.server is not None
    result = verify_download(node.server.public_url, api.username, app, root, target, tmp / tag)
    assert result.length == len(f"{app} {tag}".encode())


def test_sigkill_during_bootstrap(crashable: Crashable, tmp_path: Path) -> None:
    crashable.start(pause="bootstrap:writing=60")
    api = login(crashable)
    cer = ceremony(crashable.data_dir / "keys", api.username, "boot")
    response = api.post("/tuf/v1/bootstrap", json=cer.payload)
    assert response.status_code in (200, 202), response.text
    task_id = response.json()["data"]["task_id"]
    crashable.wait_log("test pause at bootstrap:writing")
    task, _ = crash_and_restart(crashable, api, task_id)
    status = api.get("/tuf/v1/bootstrap", params={"appName": "boot"}).json()["data"]
    if task["state"] == "FAILURE":
        assert status["bootstrap"] is False and status["state"] is None
        api.bootstrap_ok(cer.payload)
    else:
        assert status["bootstrap"] is True and status["id"] == task_id
    usable(crashable, api, cer, "boot", tmp_path, "a")


def _bootstrapped(node: Crashable, app: str, pause: str) -> tuple[Api, Ceremony]:
    node.start(pause=pause)
    api = login(node)
    cer = ceremony(node.data_dir / "keys", api.username, app)
    api.bootstrap_ok(cer.payload)
    return api, cer


def test_sigkill_during_publish_batch(crashable: Crashable, tmp_path: Path) -> None:
    api, cer = _bootstrapped(crashable, "pub", "add_artifacts:writing=60")
    versions = [
        (api.upload_ok("pub", f"1.{i}", {"pkg.bin": b"p%d" % i}), f"1.{i}") for i in range(3)
    ]
    task_ids = []
    for vid, version in versions:
        response = api.post("/tuf/v1/artifacts/publish", json={"app_id": vid, "version": version})
        assert response.status_code in (200, 202), response.text
        task_ids.append(response.json()["data"]["task_id"])
    crashable.wait_log("test pause at add_artifacts:writing")
    crash_and_restart(crashable, api, task_ids[0])
    states = [api.wait_task(t, timeout=10)["state"] for t in task_ids]
    assert states == ["SUCCESS"] * 3, states
    root = tmp_path / "root.json"
    root.write_bytes(cer.root_bytes)
    for _vid, version in versions:
        target = f"pub-{api.username}/pub-{version}.bin"
        assert crashable.server is not None
        verify_download(
            crashable.server.public_url, api.username, "pub", root, target, tmp_path / version
        )
        assert api.version("pub", _vid)["Artifacts"][0]["TufSigned"] is True
    usable(crashable, api, cer, "pub", tmp_path, "b")


def test_sigkill_during_removal(crashable: Crashable, tmp_path: Path) -> None:
    api, cer = _bootstrapped(crashable, "rem", "remove_artifacts:writing=60")
    vid = api.upload_ok("rem", "1.0", {"pkg.bin": b"to remove"})
    api.publish_ok(vid, "1.0")
    response = api.post(
        "/tuf/v1/artifacts/delete",
        json={"id": vid, "app_name": "rem", "version": "1.0", "artifacts_to_delete": ["0"]},
    )
    assert response.status_code == 202, response.text
    task_id = response.json()["data"]["task_id"]
    crashable.wait_log("test pause at remove_artifacts:writing")
    task, _ = crash_and_restart(crashable, api, task_id)
    assert task["state"] == "SUCCESS", task
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": "rem", "roleName": "default"}
    ).json()["data"]["trusted_delegated"]
    assert delegated["signed"]["targets"] == {}
    usable(crashable, api, cer, "rem", tmp_path, "c")


def _next_root(api: Api, app: str, new_signer: Any) -> dict[str, Any]:
    current = api.get("/tuf/v1/metadata/root", params={"appName": app}).json()["data"]
    md = Metadata[Root].from_dict(copy.deepcopy(current["trusted_root"]))
    md.signed.version += 1
    md.signatures.clear()
    for keyid in list(md.signed.roles["root"].keyids):
        md.signed.revoke_key(keyid, "root")
    md.signed.add_key(new_signer.public_key, "root")
    return md.to_dict()


def test_sigkill_during_root_finalize(crashable: Crashable, tmp_path: Path) -> None:
    # The last signature waits for its paused task only 1 s, then answers 200 with the
    # task id as past any bound (docs/api.md §5.5).
    crashable.env["TUFSYNC_FINALIZE_WAIT_SECONDS"] = "1"
    api, cer = _bootstrapped(crashable, "rot", "sign_metadata:writing=60")
    new_signer = CryptoSigner.generate_ed25519()
    draft = _next_root(api, "rot", new_signer)
    response = api.post(
        "/tuf/v1/metadata", params={"appName": "rot"}, json={"metadata": {"root": draft}}
    )
    assert response.status_code in (200, 202), response.text
    payload = encode_canonical(draft["signed"]).encode()
    for signer in (cer.root_signers[0], new_signer):
        last = api.post(
            "/tuf/v1/metadata/sign",
            params={"appName": "rot"},
            json={"role": "root", "signature": signer.sign(payload).to_dict()},
        )
    assert last.status_code in (200, 202), last.text
    assert last.json()["message"] == "Metadata update finished"
    task_id = last.json()["data"]["task_id"]
    assert api.get("/tuf/v1/task", params={"task_id": task_id}).json()["data"]["state"] == (
        "STARTED"
    )
    crashable.wait_log("test pause at sign_metadata:writing")
    task, _ = crash_and_restart(crashable, api, task_id)
    assert task["state"] == "SUCCESS", task
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": "rot"}).json()
    assert pending["data"] is None  # the draft is finished, not left behind
    trusted = api.get("/tuf/v1/metadata/root", params={"appName": "rot"}).json()["data"]
    assert trusted["trusted_root"]["signed"]["version"] == 2
    usable(crashable, api, cer, "rot", tmp_path, "d")


def test_sigkill_during_recovery(crashable: Crashable, tmp_path: Path) -> None:
    api, cer = _bootstrapped(crashable, "rec", "")
    config_before = api.get("/tuf/v1/config", params={"appName": "rec"}).json()
    crashable.stop()
    lost = [
        tenant_keys.bootstrap(tenant_keys.TenantRef(api.username, "rec")),
        tenant_keys.settings(tenant_keys.TenantRef(api.username, "rec")),
        tenant_keys.schedule(tenant_keys.TenantRef(api.username, "rec")),
    ]
    for key in lost:
        crashable.state_rows("DELETE FROM state_entries WHERE key = ?", key)
    crashable.start(pause="bootstrap_recovery:writing=60")
    login(crashable, api)
    response = api.post("/tuf/v1/bootstrap/recovery", json={"appName": "rec", "timeout": 60})
    assert response.status_code == 202, response.text
    task_id = response.json()["data"]["task_id"]
    crashable.wait_log("test pause at bootstrap_recovery:writing")
    task, _ = crash_and_restart(crashable, api, task_id)
    if task["state"] == "FAILURE":
        again = api.post("/tuf/v1/bootstrap/recovery", json={"appName": "rec", "timeout": 60})
        assert again.status_code == 202, again.text
        assert api.wait_task(again.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert api.get("/tuf/v1/config", params={"appName": "rec"}).json() == config_before
    usable(crashable, api, cer, "rec", tmp_path, "e")


def test_deadline_never_cuts_a_bootstrap_write(crashable: Crashable, tmp_path: Path) -> None:
    """Item 2: the deadline passes while the bootstrap writes: it completes, whole."""
    crashable.start(pause="bootstrap:writing=1.5")
    api = login(crashable)
    cer = ceremony(crashable.data_dir / "keys", api.username, "slow")
    response = api.post("/tuf/v1/bootstrap", json={**cer.payload, "timeout": 2})
    assert response.status_code in (200, 202), response.text
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    usable(crashable, api, cer, "slow", tmp_path, "f")


def test_bootstrap_failing_while_writing_leaves_nothing(
    crashable: Crashable, tmp_path: Path
) -> None:
    """Item 2: a write fails half-way: no file, marker or settings stay; bootstrap again works."""
    crashable.start(pause="bootstrap:writing=1")
    api = login(crashable)
    cer = ceremony(crashable.data_dir / "keys", api.username, "half")
    response = api.post("/tuf/v1/bootstrap", json=cer.payload)
    assert response.status_code in (200, 202), response.text
    crashable.wait_log("test pause at bootstrap:writing")
    folder = crashable.data_dir / "public" / "tuf_metadata" / api.username / "half"
    blocker = folder / "timestamp.json"
    blocker.mkdir(parents=True)  # the last write cannot land
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "FAILURE", task
    assert sorted(p.name for p in folder.rglob("*.json") if p.is_file()) == []
    status = api.get("/tuf/v1/bootstrap", params={"appName": "half"}).json()["data"]
    assert status["bootstrap"] is False and status["state"] is None
    assert api.get("/tuf/v1/config", params={"appName": "half"}).status_code == 404
    private = crashable.data_dir / "public" / "tuf_private" / api.username / "half"
    assert not private.exists() or not any(private.iterdir())
    shutil.rmtree(blocker)
    crashable.stop()
    crashable.start()
    login(crashable, api)
    api.bootstrap_ok(cer.payload)
    usable(crashable, api, cer, "half", tmp_path, "g")


def test_claims_of_lost_tasks_are_released_at_start(crashable: Crashable) -> None:
    """A crash between claiming a path and queueing its task leaves no path blocked."""
    crashable.start()
    api = login(crashable)
    api.upload_ok("orphan", "1.0", {"pkg.bin": b"one"})
    crashable.kill()
    path = f"orphan-{api.username}/orphan-2.0.bin"
    conn = sqlite3.connect(crashable.data_dir / "tufsync.db")
    with conn:
        conn.execute(
            "INSERT INTO tuf_claims(tuf_path, task_id) VALUES (?, ?)", (path, str(uuid.uuid4()))
        )
    conn.close()
    crashable.start()
    login(crashable, api)
    api.upload_ok("orphan", "2.0", {"pkg.bin": b"two"})
