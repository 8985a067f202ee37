"""``POST /tuf/v1/metadata/sign`` answers after the publication, and a signature that met
its threshold survives a SIGKILL (docs/api.md, the signing flow).

Each test runs a real server: the signature that meets the threshold is answered
only once the new version is published (or its finalize task failed: 400 with
the task's sentence), and a process killed after that signature was stored but
before the publication (the request paused before accepting its task, or the
task paused inside its write section) publishes the draft after its restart,
which python-tuf's ngclient then verifies.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from securesystemslib.signer import CryptoSigner

from tests.crash import Crashable
from tests.support import Api, OfflineRole, offline_role, sign_pending, unique_name
from tufsync.keyholder.verify import verify_download

APP = "signwait"


def _offline_app(api: Api, app: str) -> OfflineRole:
    """``default`` offline (one holder, threshold 1), one release drafted into it."""
    setup = offline_role(api, app, [CryptoSigner.generate_ed25519()], 1)
    api.bootstrap_ok(setup.payload)
    vid = api.upload_ok(app, "1.0", {"a.deb": b"signed offline"})
    task = api.publish_ok(vid, "1.0")
    assert task["result"]["details"]["awaiting_signatures"] == {"default": 2}
    return setup


def _path(api: Api, app: str) -> str:
    return f"{app}-{api.username}/{app}-1.0.deb"


def _pending(api: Api, app: str) -> Any:
    return api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]


def _published(api: Api, app: str) -> dict[str, Any]:
    """Every target the published metadata lists, read over HTTP as a client does
    (timestamp -> snapshot -> roles)."""
    base = f"/public/tuf_metadata/{api.username}/{app}"
    timestamp = api.get(f"{base}/timestamp.json").json()
    snap = timestamp["signed"]["meta"]["snapshot.json"]["version"]
    snapshot = api.get(f"{base}/{snap}.snapshot.json").json()
    listed: dict[str, Any] = {}
    for name, meta in snapshot["signed"]["meta"].items():
        listed.update(api.get(f"{base}/{meta['version']}.{name}").json()["signed"]["targets"])
    return listed


def _verify(api: Api, setup: OfflineRole, app: str, tmp: Path, tag: str) -> None:
    root = tmp / f"{tag}-root.json"
    root.write_bytes(setup.root_bytes)
    result = verify_download(
        api.server.public_url, api.username, app, root, _path(api, app), tmp / tag
    )
    assert result.length == len(b"signed offline")


def test_the_last_signature_is_answered_after_the_publication(api: Api, tmp_path: Path) -> None:
    app = f"{APP}a"
    setup = _offline_app(api, app)
    assert _path(api, app) not in _published(api, app)

    started = time.monotonic()
    answer = sign_pending(api, app, "default", setup.holders[0])
    print(f"\nlast signature answered after the publication in {time.monotonic() - started:.3f}s")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["message"] == "Role default signing complete"
    assert set(body["data"]) == {"task_id", "last_update"}
    # Right after the answer: published, no draft left, the task already ended.
    assert _path(api, app) in _published(api, app)
    assert _pending(api, app) is None
    task = api.get("/tuf/v1/task", params={"task_id": body["data"]["task_id"]}).json()["data"]
    assert task["state"] == "SUCCESS", task
    _verify(api, setup, app, tmp_path, "after")


def _post_in_background(api: Api, app: str, signer: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def post() -> None:
        try:
            out.append(sign_pending(api, app, "default", signer))
        except httpx.HTTPError as exc:  # the server was killed under the request
            out.append(exc)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, out


def test_a_failed_finalization_is_answered_with_its_sentence(crashable: Crashable) -> None:
    # The request pauses after storing the signature; a cancellation drops the draft
    # meanwhile, so the finalize task finds nothing to publish and fails.
    crashable.start(pause="sign_request:threshold_met=3")
    assert crashable.server is not None
    api = Api(crashable.server, unique_name())
    app = f"{APP}f"
    setup = _offline_app(api, app)
    thread, out = _post_in_background(api, app, setup.holders[0])
    crashable.wait_log("test pause at sign_request:threshold_met")
    cancel = api.post(
        "/tuf/v1/metadata/sign/delete", params={"appName": app}, json={"role": "default"}
    )
    assert cancel.status_code == 202, cancel.text
    api.wait_task(cancel.json()["data"]["task_id"], timeout=10)
    thread.join(30)

    answer = out[0]
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == body["message"] == "The default role is not in a signing process."
    task = api.wait_task(body["data"]["task_id"], timeout=5)
    assert task["state"] == "FAILURE" and task["result"]["error"] == body["error"]
    assert _path(api, app) not in _published(api, app)


@pytest.mark.parametrize(
    "pause",
    ["sign_request:threshold_met", "sign_metadata:writing"],
    ids=["before-the-task-is-accepted", "while-the-task-publishes"],
)
def test_sigkill_after_the_threshold_is_met_publishes_after_restart(
    crashable: Crashable, tmp_path: Path, pause: str
) -> None:
    crashable.start(pause=f"{pause}=60")
    assert crashable.server is not None
    api = Api(crashable.server, unique_name())
    app = f"{APP}k"
    setup = _offline_app(api, app)
    thread, _ = _post_in_background(api, app, setup.holders[0])
    crashable.wait_log(f"test pause at {pause}")

    crashable.kill()
    thread.join(10)
    # Killed mid-way: what clients see is the old consistent state (timestamp ->
    # snapshot -> roles, as written on disk), without the path.
    assert _path(api, app) not in crashable.listed_targets(api.username, app)

    crashable.start()
    assert crashable.server is not None
    api.server = crashable.server
    started = time.monotonic()
    while _path(api, app) not in _published(api, app) or crashable.unfinished_tasks():
        assert time.monotonic() - started < 10, crashable.server.log()
        time.sleep(0.05)
    print(f"\n{pause}: restart -> published, task ended in {time.monotonic() - started:.2f}s")
    assert _pending(api, app) is None
    _verify(api, setup, app, tmp_path, "restarted")
