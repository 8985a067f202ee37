"""Registry requests never race queued TUF tasks (embedded mode, docs/design.md invariant 9).

The repository lock is held from outside (as a slow task would), so a
publish or removal stays queued while other requests arrive.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.support import Api, ceremony, hold_state_key
from tufsync import tenant_keys
from tufsync.keyholder.verify import verify_download


def _setup(api: Api, app: str) -> tuple[Path, str]:
    cer = ceremony(api.server.key_dir, api.username, app)
    api.bootstrap_ok(cer.payload)
    root = api.server.data_dir / f"{api.username}-{app}-root.json"
    root.write_bytes(cer.root_bytes)
    return root, tenant_keys.repo_lock(tenant_keys.TenantRef(api.username, app))


def _path(api: Api, app: str, version: str) -> str:
    return f"{app}-{api.username}/{app}-{version}.bin"


def _submit(api: Api, route: str, body: dict[str, Any]) -> str:
    response = api.post(route, json=body)
    assert response.status_code in (200, 202), response.text
    return str(response.json()["data"]["task_id"])


def _listed(api: Api, app: str) -> dict[str, Any]:
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": app, "roleName": "default"}
    ).json()["data"]["trusted_delegated"]
    return dict(delegated["signed"]["targets"])


def test_unsigned_artifact_cannot_be_deleted_while_its_publish_waits(api: Api) -> None:
    app = "race1"
    _root, lock = _setup(api, app)
    vid = api.upload_ok(app, "1.0", {"pkg.bin": b"first bytes"})
    delete_body = {"id": vid, "app_name": app, "version": "1.0", "artifacts_to_delete": ["0"]}
    with hold_state_key(api.server, lock):
        task_id = _submit(api, "/tuf/v1/artifacts/publish", {"app_id": vid, "version": "1.0"})
        refused = api.post("/artifact/delete", json=delete_body)
        assert refused.status_code == 409, refused.text
        assert "try again when that task has finished" in refused.json()["error"]
        assert task_id in refused.json()["error"]
        again = api.post("/tuf/v1/artifacts/publish", json={"app_id": vid, "version": "1.0"})
        assert again.status_code == 409, again.text
    assert api.wait_task(task_id)["state"] == "SUCCESS"
    assert _path(api, app, "1.0") in _listed(api, app)
    assert api.version(app, vid)["Artifacts"][0]["TufSigned"] is True


def test_reupload_waits_for_the_removal_of_a_signed_path(api: Api, tmp_path: Path) -> None:
    app = "race2"
    root, lock = _setup(api, app)
    vid = api.upload_ok(app, "1.0", {"pkg.bin": b"old signed bytes"})
    api.publish_ok(vid, "1.0")
    path = _path(api, app, "1.0")
    file = api.server.public_dir / path
    with hold_state_key(api.server, lock):
        deleted = api.post(
            "/artifact/delete",
            json={"id": vid, "app_name": app, "version": "1.0", "artifacts_to_delete": ["0"]},
        )
        assert deleted.status_code == 200, deleted.text
        removal = deleted.json()["task_id"]
        # TUF still lists the path: another upload must not overwrite its file.
        refused = api.upload(app, "1.0", {"pkg.bin": b"new other bytes"})
        assert refused.status_code == 409, refused.text
        assert removal in refused.json()["error"]
        assert file.read_bytes() == b"old signed bytes"
    assert api.wait_task(removal)["state"] == "SUCCESS"
    assert path not in _listed(api, app)
    assert not file.exists()
    new_vid = api.upload_ok(app, "1.0", {"pkg.bin": b"new other bytes"})
    api.publish_ok(new_vid, "1.0")
    result = verify_download(api.server.public_url, api.username, app, root, path, tmp_path)
    assert result.local_file.read_bytes() == b"new other bytes"


def test_publish_signs_only_artifacts_that_still_exist(api: Api) -> None:
    """Second line of defence: rows changed behind the claims' back are not signed."""
    app = "race3"
    _root, lock = _setup(api, app)
    kept = api.upload_ok(app, "1.0", {"pkg.bin": b"kept"})
    gone = api.upload_ok(app, "2.0", {"pkg.bin": b"gone"})
    with hold_state_key(api.server, lock):
        kept_task = _submit(api, "/tuf/v1/artifacts/publish", {"app_id": kept, "version": "1.0"})
        gone_task = _submit(api, "/tuf/v1/artifacts/publish", {"app_id": gone, "version": "2.0"})
        conn = sqlite3.connect(api.server.data_dir / "tufsync.db")
        with conn:
            conn.execute("DELETE FROM artifacts WHERE tuf_path = ?", (_path(api, app, "2.0"),))
        conn.close()
        (api.server.public_dir / _path(api, app, "2.0")).unlink()
    # The records in the messages: a rare failure under load must say why it failed.
    kept_record = api.wait_task(kept_task)
    assert kept_record["state"] == "SUCCESS", kept_record
    failed = api.wait_task(gone_task)
    assert failed["state"] == "FAILURE", failed
    assert "no longer exist" in failed["result"]["error"]
    listed = _listed(api, app)
    assert _path(api, app, "1.0") in listed
    assert _path(api, app, "2.0") not in listed
    # Its claim is gone with the task: the path can be uploaded again.
    api.upload_ok(app, "2.0", {"pkg.bin": b"again"})


def test_removal_route_claims_its_paths(api: Api) -> None:
    app = "race4"
    _root, lock = _setup(api, app)
    vid = api.upload_ok(app, "1.0", {"pkg.bin": b"signed"})
    api.publish_ok(vid, "1.0")
    body = {"id": vid, "app_name": app, "version": "1.0", "artifacts_to_delete": ["0"]}
    with hold_state_key(api.server, lock):
        task_id = _submit(api, "/tuf/v1/artifacts/delete", body)
        refused = api.post("/artifact/delete", json=body)
        assert refused.status_code == 409, refused.text
        assert api.http.delete("/apps/delete", params={"id": vid}).status_code == 409
    assert api.wait_task(task_id)["state"] == "SUCCESS"
    assert api.post("/artifact/delete", json=body).status_code == 200


def _app_id(api: Api, app: str) -> str:
    apps = {a["AppName"]: a for a in api.get("/app/list").json()["apps"]}
    return str(apps[app]["ID"])


def test_app_delete_respects_claims_and_claims_signed_paths(api: Api, tmp_path: Path) -> None:
    """``DELETE /app/delete`` takes the registry lock like ``/artifact/delete``: it
    refuses while a queued task will touch one of the app's paths, and the signed
    paths it removes stay claimed until TUF no longer lists them."""
    app = "race5"
    root, lock = _setup(api, app)
    vid = api.upload_ok(app, "1.0", {"pkg.bin": b"old signed bytes"})
    app_id = _app_id(api, app)
    path = _path(api, app, "1.0")
    file = api.server.public_dir / path
    with hold_state_key(api.server, lock):
        task_id = _submit(api, "/tuf/v1/artifacts/publish", {"app_id": vid, "version": "1.0"})
        refused = api.http.delete("/app/delete", params={"id": app_id})
        assert refused.status_code == 409, refused.text
        assert task_id in refused.json()["error"]
    assert api.wait_task(task_id)["state"] == "SUCCESS"
    assert path in _listed(api, app)
    with hold_state_key(api.server, lock):
        deleted = api.http.delete("/app/delete", params={"id": app_id})
        assert deleted.status_code == 200, deleted.text
        removal = deleted.json()["task_id"]
        refused = api.upload(app, "1.0", {"pkg.bin": b"new other bytes"})
        assert refused.status_code == 409, refused.text
        assert removal in refused.json()["error"]
        assert file.read_bytes() == b"old signed bytes"
    assert api.wait_task(removal)["state"] == "SUCCESS"
    assert path not in _listed(api, app)
    assert not file.exists()
    new_vid = api.upload_ok(app, "1.0", {"pkg.bin": b"new other bytes"})
    api.publish_ok(new_vid, "1.0")
    result = verify_download(api.server.public_url, api.username, app, root, path, tmp_path)
    assert result.local_file.read_bytes() == b"new other bytes"
