"""Tasks, publishing, reading metadata, removing from TUF, and tenant isolation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.support import Api, ceremony
from tufsync.keyholder.verify import TargetNotFound, verify_download


def bootstrapped(api: Api, app: str) -> bytes:
    cer = ceremony(api.server.key_dir, api.username, app)
    api.bootstrap_ok(cer.payload)
    return cer.root_bytes


def test_task_route_errors(api: Api) -> None:
    assert api.get("/tuf/v1/task").status_code == 400
    bad = api.get("/tuf/v1/task", params={"task_id": "not-a-uuid"})
    assert bad.status_code == 400 and "UUID" in bad.json()["error"]
    unknown = api.get("/tuf/v1/task", params={"task_id": str(uuid.uuid4())})
    assert unknown.status_code == 404


def test_publish_errors(api: Api) -> None:
    version_id = api.upload_ok("pub", "1.0", {"a.deb": b"a"})
    not_found = api.post("/tuf/v1/artifacts/publish", json={"app_id": "nope", "version": "1.0"})
    assert not_found.status_code == 404
    assert not_found.json() == {"error": "App version not found: app_id=nope, version=1.0"}
    not_bootstrapped = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "1.0"}
    )
    assert not_bootstrapped.status_code == 404
    bootstrapped(api, "pub")
    mismatch = api.post("/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "2.0"})
    assert mismatch.status_code == 404
    missing = api.post("/tuf/v1/artifacts/publish", json={"app_id": version_id})
    assert missing.status_code == 400 and "version" in missing.json()["error"]
    task = api.publish_ok(version_id, "1.0")
    assert task["result"]["status"] is True
    again = api.post("/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "1.0"})
    assert again.status_code == 200
    assert again.json() == {
        "data": {"app_id": version_id, "artifacts": [], "version": "1.0"},
        "message": "All artifacts are already signed",
    }


def test_publish_response_and_metadata_reads(api: Api) -> None:
    version_id = api.upload_ok("meta", "3.1", {"m.deb": b"m", "m.rpm": b"r"}, platform="linux")
    bootstrapped(api, "meta")
    response = api.post("/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "3.1"})
    data = response.json()["data"]
    assert response.json()["message"] == "Artifact(s) publishing started"
    assert data["app_id"] == version_id and data["version"] == "3.1"
    assert sorted(data["artifacts"]) == [
        f"meta-{api.username}/linux/meta-3.1.deb",
        f"meta-{api.username}/linux/meta-3.1.rpm",
    ]
    assert uuid.UUID(data["task_id"]) and data["last_update"]
    assert api.wait_task(data["task_id"])["state"] == "SUCCESS"

    root = api.get("/tuf/v1/metadata/root", params={"appName": "meta"}).json()["data"]
    published_root = json.loads(
        (
            api.server.public_dir / "tuf_metadata" / api.username / "meta" / "1.root.json"
        ).read_bytes()
    )
    assert root["trusted_root"] == published_root
    targets = api.get("/tuf/v1/metadata/targets", params={"appName": "meta"}).json()["data"]
    assert targets["trusted_targets"]["signed"]["delegations"]["roles"][0]["name"] == "default"
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": "meta", "roleName": "default"}
    ).json()["data"]["trusted_delegated"]
    assert delegated["signed"]["version"] == 2
    assert sorted(delegated["signed"]["targets"]) == sorted(data["artifacts"])
    for params, status in [
        ({"appName": "meta"}, 400),
        ({"appName": "meta", "roleName": "nope"}, 404),
        ({"appName": "meta", "roleName": "targets"}, 404),
        ({"appName": "other", "roleName": "default"}, 404),
        ({"roleName": "default"}, 400),
    ]:
        assert api.get("/tuf/v1/metadata/delegated", params=params).status_code == status, params
    assert api.get("/tuf/v1/metadata/root", params={"appName": "other"}).status_code == 404
    assert api.get("/tuf/v1/metadata/targets", params={"appName": "other"}).status_code == 404
    assert api.get("/tuf/v1/metadata/root", params={"appName": "../x"}).status_code == 400


def test_delete_from_tuf_keeps_files(api: Api, tmp_path: Path) -> None:
    version_id = api.upload_ok("rm", "1.0", {"a.deb": b"aaa", "a.rpm": b"bbb", "a.zip": b"c"})
    root = bootstrapped(api, "rm")
    body = {"id": version_id, "app_name": "rm", "version": "1.0", "artifacts_to_delete": ["0"]}
    unsigned = api.post("/tuf/v1/artifacts/delete", content=json.dumps(body))
    assert unsigned.status_code == 400
    assert unsigned.json() == {"error": "No valid artifacts to delete (all must be TUF signed)"}
    api.publish_ok(version_id, "1.0")
    paths = [a["TufPath"] for a in api.version("rm", version_id)["Artifacts"]]
    out_of_range = {**body, "artifacts_to_delete": ["7"]}
    assert api.post("/tuf/v1/artifacts/delete", json=out_of_range).status_code == 400

    response = api.post(
        "/tuf/v1/artifacts/delete",
        content=json.dumps(body),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 202
    data = response.json()["data"]
    assert response.json()["message"] == "Artifact(s) deletion started"
    assert data["artifacts"] == [paths[0]] and data["app_id"] == version_id
    assert api.wait_task(data["task_id"])["state"] == "SUCCESS"

    trusted = tmp_path / "root.json"
    trusted.write_bytes(root)
    assert (api.server.public_dir / paths[0]).exists()
    try:
        verify_download(
            api.server.public_url, api.username, "rm", trusted, paths[0], tmp_path / "d"
        )
        raise AssertionError("removed target still verifies")
    except TargetNotFound:
        pass
    for path in paths[1:]:
        verify_download(api.server.public_url, api.username, "rm", trusted, path, tmp_path / "d")
    artifacts = api.version("rm", version_id)["Artifacts"]
    assert [a["TufSigned"] for a in artifacts] == [False, True, True]
    # Re-publishing signs it again.
    api.publish_ok(version_id, "1.0")
    verify_download(
        api.server.public_url,
        api.username,
        "rm",
        trusted,
        paths[0],
        tmp_path / "again",
        metadata_dir=tmp_path / "again-meta",
    )


def test_registry_delete_of_signed_artifact_removes_it_from_tuf(api: Api) -> None:
    version_id = api.upload_ok("regdel", "1.0", {"a.deb": b"aaa", "a.rpm": b"bbb"})
    bootstrapped(api, "regdel")
    api.publish_ok(version_id, "1.0")
    body = {"id": version_id, "app_name": "regdel", "version": "1.0", "artifacts_to_delete": ["1"]}
    signed_path = f"regdel-{api.username}/regdel-1.0.rpm"
    assert api.http.get(f"/public/{signed_path}").status_code == 200
    response = api.post("/artifact/delete", json=body)
    assert response.status_code == 200
    assert api.wait_task(response.json()["task_id"])["state"] == "SUCCESS"
    # The file goes only once TUF no longer lists it.
    assert api.http.get(f"/public/{signed_path}").status_code == 404
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": "regdel", "roleName": "default"}
    ).json()["data"]["trusted_delegated"]
    assert list(delegated["signed"]["targets"]) == [f"regdel-{api.username}/regdel-1.0.deb"]


def test_tenants_are_isolated(make_api: Callable[[], Api]) -> None:
    owner, other = make_api(), make_api()
    version_id = owner.upload_ok("shared", "1.0", {"s.deb": b"s"})
    owner_cer = ceremony(owner.server.key_dir, owner.username, "shared")
    task = owner.bootstrap_ok(owner_cer.payload)
    publish = owner.publish_ok(version_id, "1.0")

    for path, params in [
        ("/tuf/v1/config", {"appName": "shared"}),
        ("/tuf/v1/metadata/root", {"appName": "shared"}),
        ("/tuf/v1/metadata/targets", {"appName": "shared"}),
        ("/tuf/v1/metadata/delegated", {"appName": "shared", "roleName": "default"}),
        ("/tuf/v1/task", {"task_id": task["task_id"]}),
        ("/tuf/v1/task", {"task_id": publish["task_id"]}),
    ]:
        assert other.get(path, params=params).status_code == 404, path
    status = other.get("/tuf/v1/bootstrap", params={"appName": "shared"}).json()["data"]
    assert status["bootstrap"] is False and status["redis_locks"]["pre_locks"] == []
    foreign = other.post("/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "1.0"})
    assert foreign.status_code == 404

    # The other admin naming the owner's online key in their own root: refused.
    stolen = ceremony(other.server.key_dir, other.username, "shared")
    payload = json.loads(json.dumps(stolen.payload))
    signed = payload["metadata"]["root"]["signed"]
    owner_key = owner_cer.payload["metadata"]["root"]["signed"]["keys"][owner_cer.online_keyid]
    signed["keys"][owner_cer.online_keyid] = owner_key
    for role in ("timestamp", "snapshot", "targets"):
        signed["roles"][role]["keyids"] = [owner_cer.online_keyid]
    from tests.support import resign

    payload["metadata"]["root"] = resign(payload["metadata"]["root"], stolen.root_signers)
    refused = other.post("/tuf/v1/bootstrap", json=payload)
    assert refused.status_code == 400
    assert "not available to the server" in refused.json()["error"]

    # ...but the same app name bootstraps independently with their own key.
    other.bootstrap_ok(stolen.payload)
    assert other.get("/tuf/v1/config", params={"appName": "shared"}).status_code == 200
    owner_targets = owner.get(
        "/tuf/v1/metadata/delegated", params={"appName": "shared", "roleName": "default"}
    ).json()["data"]["trusted_delegated"]["signed"]["targets"]
    other_targets = other.get(
        "/tuf/v1/metadata/delegated", params={"appName": "shared", "roleName": "default"}
    ).json()["data"]["trusted_delegated"]["signed"]["targets"]
    assert len(owner_targets) == 1 and other_targets == {}
