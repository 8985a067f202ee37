"""Removals find the role that lists a path, wherever the delegation order would
place it now, and a rotation that drops a role's targets unsigns their rows."""

from __future__ import annotations

import copy
import json
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Signer

from tests.support import Api, ceremony, offline_targets
from tufsync import tenant_keys
from tufsync.keyholder.ceremony import create_online_key


def listed_by(api: Api, app: str) -> dict[str, str]:
    """path → the role listing it, for every role reachable from targets."""
    folder = api.server.public_dir / "tuf_metadata" / api.username / app
    timestamp = json.loads((folder / "timestamp.json").read_bytes())
    snap = timestamp["signed"]["meta"]["snapshot.json"]["version"]
    meta = json.loads((folder / f"{snap}.snapshot.json").read_bytes())["signed"]["meta"]

    def role(name: str) -> dict[str, Any]:
        signed: dict[str, Any] = json.loads(
            (folder / f"{meta[name + '.json']['version']}.{name}.json").read_bytes()
        )["signed"]
        return signed

    targets = role("targets")
    found = {path: "targets" for path in targets["targets"]}
    for delegated in targets["delegations"]["roles"]:
        for path in role(delegated["name"])["targets"]:
            found.setdefault(path, delegated["name"])
    return found


def online_signer(api: Api, app: str, keyid: str) -> CryptoSigner:
    folder = tenant_keys.key_folder(api.server.key_dir, tenant_keys.TenantRef(api.username, app))
    private = load_pem_private_key((folder / f"{keyid}.pem").read_bytes(), password=None)
    return CryptoSigner(private)  # type: ignore[arg-type]


def rotate_targets(
    api: Api, app: str, role: str, change: Any, signer: Signer | None = None
) -> None:
    """Publish targets version + 1, changed by ``change(signed)`` and signed with
    ``signer`` (default: the online targets key), so the rotation task publishes it."""
    current = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    signed = copy.deepcopy(current["trusted_targets"]["signed"])
    signed["version"] += 1
    change(signed)
    if signer is None:
        signer = online_signer(api, app, current["trusted_targets"]["signatures"][0]["keyid"])
    signature = signer.sign(encode_canonical(signed).encode())
    draft = {"signed": signed, "signatures": [signature.to_dict()]}
    response = api.post(
        "/tuf/v1/metadata/delegated/rotate",
        params={"appName": app},
        json={"role": role, "metadata": {"targets": draft}},
    )
    assert response.status_code == 200, response.text
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["result"]["message"] == "Delegated metadata published", task


def add_role_first(
    api: Api, app: str, name: str, paths: list[str], signer: Signer | None = None
) -> None:
    key = create_online_key(api.server.key_dir, api.username, app)

    def change(signed: dict[str, Any]) -> None:
        signed["delegations"]["keys"][key.keyid] = key.to_dict()
        role = {"name": name, "keyids": [key.keyid], "threshold": 1, "terminating": False}
        signed["delegations"]["roles"].insert(0, {**role, "paths": paths})

    rotate_targets(api, app, name, change, signer)


def signed_flags(api: Api, app: str, version_id: str) -> list[bool]:
    return [bool(a["TufSigned"]) for a in api.version(app, version_id)["Artifacts"]]


def test_a_removal_finds_the_role_listing_the_path_behind_a_role_added_ahead(api: Api) -> None:
    app = "rm-ahead"
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    vid = api.upload_ok(app, "1.0", {"a.bin": b"listed by default"})
    api.publish_ok(vid, "1.0")
    path = f"{app}-{api.username}/{app}-1.0.bin"
    assert listed_by(api, app)[path] == "default"
    config = api.get("/tuf/v1/config", params={"appName": app}).json()["data"]
    default_paths = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"][
        "trusted_targets"
    ]["signed"]["delegations"]["roles"][0]["paths"]
    assert "default" in config["delegated_roles"]
    add_role_first(api, app, "early", list(default_paths))
    body = {"id": vid, "app_name": app, "version": "1.0", "artifacts_to_delete": ["0"]}
    deleted = api.post("/artifact/delete", json=body)
    assert deleted.status_code == 200, deleted.text
    task = api.wait_task(deleted.json()["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["result"]["message"] == "Successfully removed 1 artifacts from TUF metadata"
    assert path not in listed_by(api, app)
    assert not (api.server.public_dir / path).exists()


def test_a_rotation_that_drops_a_role_unsigns_the_rows_it_listed(api: Api) -> None:
    app = "rm-drop"
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    add_role_first(api, app, "beta", [f"{app}-{api.username}/beta/*"])
    vid = api.upload_ok(app, "1.0", {"b.bin": b"beta build"}, channel="beta")
    api.publish_ok(vid, "1.0")
    path = f"{app}-{api.username}/beta/{app}-1.0.bin"
    assert listed_by(api, app)[path] == "beta"
    assert signed_flags(api, app, vid) == [True]

    def drop_beta(signed: dict[str, Any]) -> None:
        roles = signed["delegations"]["roles"]
        signed["delegations"]["roles"] = [r for r in roles if r["name"] != "beta"]

    rotate_targets(api, app, "default", drop_beta)
    assert path not in listed_by(api, app)
    assert signed_flags(api, app, vid) == [False]
    # Publishing again lists it in the role that now covers it (not "already signed").
    task = api.publish_ok(vid, "1.0")
    assert task["result"]["details"]["artifacts"] == {path: "default"}, task
    assert listed_by(api, app)[path] == "default"
    assert signed_flags(api, app, vid) == [True]


def test_a_rotation_signed_through_the_signing_flow_that_drops_a_role_unsigns_its_rows(
    api: Api,
) -> None:
    app = "rm-drop-off"
    offline = offline_targets(api, app)
    api.bootstrap_ok(offline.payload)
    add_role_first(api, app, "beta", [f"{app}-{api.username}/beta/*"], offline.targets_signer)
    vid = api.upload_ok(app, "1.0", {"b.bin": b"beta build"}, channel="beta")
    api.publish_ok(vid, "1.0")
    path = f"{app}-{api.username}/beta/{app}-1.0.bin"
    assert listed_by(api, app)[path] == "beta"
    current = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    signed = copy.deepcopy(current["trusted_targets"]["signed"])
    signed["version"] += 1
    signed["delegations"]["roles"] = [
        r for r in signed["delegations"]["roles"] if r["name"] != "beta"
    ]
    staged = api.post(
        "/tuf/v1/metadata/delegated/rotate",
        params={"appName": app},
        json={"role": "releases", "metadata": {"targets": {"signed": signed, "signatures": []}}},
    )
    assert staged.status_code == 200, staged.text
    assert api.wait_task(staged.json()["data"]["task_id"])["state"] == "SUCCESS"
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]["metadata"]
    signature = offline.targets_signer.sign(encode_canonical(pending["targets"]["signed"]).encode())
    final = api.post(
        "/tuf/v1/metadata/sign",
        params={"appName": app},
        json={"role": "targets", "signature": signature.to_dict()},
    )
    assert final.status_code == 200, final.text
    assert api.wait_task(final.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert path not in listed_by(api, app)
    assert signed_flags(api, app, vid) == [False]


def test_an_upload_to_an_app_whose_published_metadata_cannot_be_read_is_a_409(api: Api) -> None:
    app = "rm-unreadable"
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    timestamp = api.server.public_dir / "tuf_metadata" / api.username / app / "timestamp.json"
    good = timestamp.read_bytes()
    timestamp.write_bytes(b"{not json")
    try:
        refused = api.upload(app, "1.0", {"a.bin": b"bytes"})
    finally:
        timestamp.write_bytes(good)
    assert refused.status_code == 409, refused.text
    assert "cannot be read" in refused.json()["error"]
    api.upload_ok(app, "1.0", {"a.bin": b"bytes"})
