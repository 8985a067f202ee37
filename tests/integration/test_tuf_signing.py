"""Root rotation, the signing flow, cancelling drafts, delegated key rotation."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, Root

from tests.support import Api, Ceremony, ceremony, offline_targets, resign
from tufsync.keyholder.ceremony import create_online_key
from tufsync.keyholder.verify import verify_download


def sig_for(signer: Signer, draft: dict[str, Any]) -> dict[str, str]:
    return signer.sign(encode_canonical(draft["signed"]).encode()).to_dict()


def trusted_root(api: Api, app: str) -> dict[str, Any]:
    return dict(
        api.get("/tuf/v1/metadata/root", params={"appName": app}).json()["data"]["trusted_root"]
    )


def next_root(api: Api, app: str, change: Any) -> dict[str, Any]:
    """The trusted root, version + 1, changed by ``change(root)``, unsigned."""
    md = Metadata[Root].from_dict(copy.deepcopy(trusted_root(api, app)))
    md.signed.version += 1
    md.signatures.clear()
    change(md.signed)
    return md.to_dict()


def post_sig(api: Api, app: str, role: str, signature: dict[str, str]) -> Any:
    return api.post(
        "/tuf/v1/metadata/sign",
        params={"appName": app},
        json={"role": role, "signature": signature},
    )


def root_files(api: Api, app: str) -> list[str]:
    folder = api.server.public_dir / "tuf_metadata" / api.username / app
    return sorted(p.name for p in folder.glob("*.root.json"))


def setup_repo(api: Api, app: str, **kw: int) -> tuple[Ceremony, str, str]:
    cer = ceremony(api.server.key_dir, api.username, app, **kw)
    version_id = api.upload_ok(app, "1.0", {"a.deb": b"artifact one"})
    api.bootstrap_ok(cer.payload)
    api.publish_ok(version_id, "1.0")
    return cer, version_id, f"{app}-{api.username}/{app}-1.0.deb"


def test_root_rotation_two_of_three_to_new_pair(api: Api, tmp_path: Path) -> None:
    app = "rot"
    cer, _, target = setup_repo(api, app, root_keys=3, threshold=2)
    trusted_file = tmp_path / "root1.json"
    trusted_file.write_bytes(cer.root_bytes)
    # A client that already trusts v1 and has refreshed once.
    client_meta = tmp_path / "client-meta"
    verify_download(
        api.server.public_url, api.username, app, trusted_file, target, tmp_path / "d0", client_meta
    )

    new_signers = [CryptoSigner.generate_ed25519() for _ in range(2)]

    def swap_root_keys(root: Root) -> None:
        for keyid in list(root.roles["root"].keyids):
            root.revoke_key(keyid, "root")
        for signer in new_signers:
            root.add_key(signer.public_key, "root")
        root.roles["root"].threshold = 2

    draft = next_root(api, app, swap_root_keys)
    response = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": draft}}
    )
    assert response.status_code == 200 and response.json()["message"] == "Metadata Update Processed"
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS" and "awaiting" in task["result"]["message"]
    assert root_files(api, app) == ["1.root.json"]
    # A rotation posted again replaces the draft and the signatures collected for it.
    assert post_sig(api, app, "root", sig_for(cer.root_signers[1], draft)).status_code == 400
    again = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": draft}}
    )
    assert again.status_code == 200, again.text

    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()
    assert pending["message"] == "Metadata role(s) pending signing"
    assert pending["data"]["metadata"]["root"]["signed"]["version"] == 2
    assert pending["data"]["metadata"]["trusted_root"]["signed"]["version"] == 1
    assert pending["data"]["metadata"]["root"]["signatures"] == []

    old_ids = [s.public_key.keyid for s in cer.root_signers]
    new_ids = [s.public_key.keyid for s in new_signers]
    steps = [
        (
            cer.root_signers[0],
            "1/4 signatures collected (1 old + 0 new). 3 more required (1 old + 2 new)",
        ),
        (
            new_signers[0],
            "2/4 signatures collected (1 old + 1 new). 2 more required (1 old + 1 new)",
        ),
        (
            cer.root_signers[2],
            "3/4 signatures collected (2 old + 1 new). 1 more required (0 old + 1 new)",
        ),
    ]
    errors = []
    for signer, progress in steps:
        result = post_sig(api, app, "root", sig_for(signer, draft))
        assert result.status_code == 400
        body = result.json()
        assert body["message"] == "Signature Failed"
        assert f"Progress: {progress}." in body["error"], body["error"]
        errors.append(body["error"])
    # Word for word faynoSync's format: Go-style [k1 k2] lists, each part only when due.
    missing_old = re.search(r"Missing old keys: \[([0-9a-f ]+)\]\.", errors[0])
    assert missing_old and set(missing_old.group(1).split()) == set(old_ids[1:])
    assert f"Old keys signed: [{old_ids[0]}]." in errors[0]
    assert "New keys signed" not in errors[0]
    assert errors[0].startswith("Invalid signature or threshold not reached: ")
    assert "Missing old keys" not in errors[2]  # the old threshold is met
    assert f"New keys signed: [{new_ids[0]}]. Missing new keys: [{new_ids[1]}]." in errors[2]
    final = post_sig(api, app, "root", sig_for(new_signers[1], draft))
    assert final.status_code == 200, final.text
    assert final.json()["message"] == "Metadata update finished"
    assert api.wait_task(final.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert root_files(api, app) == ["1.root.json", "2.root.json"]
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json() == {
        "data": None,
        "message": "No metadata pending signing available",
    }
    assert set(trusted_root(api, app)["signed"]["roles"]["root"]["keyids"]) == set(new_ids)
    assert set(old_ids).isdisjoint(new_ids)

    # The client that trusted v1 updates through v2 and still verifies downloads.
    result = verify_download(
        api.server.public_url, api.username, app, trusted_file, target, tmp_path / "d1", client_meta
    )
    assert result.length == len(b"artifact one")
    assert json.loads((client_meta / "root.json").read_bytes())["signed"]["version"] == 2


def test_v1_client_refuses_root_signed_by_new_keys_only(api: Api, tmp_path: Path) -> None:
    app = "forged"
    cer, _, target = setup_repo(api, app, root_keys=3, threshold=2)
    new_signers = [CryptoSigner.generate_ed25519() for _ in range(2)]

    def swap(root: Root) -> None:
        for keyid in list(root.roles["root"].keyids):
            root.revoke_key(keyid, "root")
        for signer in new_signers:
            root.add_key(signer.public_key, "root")
        root.roles["root"].threshold = 2

    draft = next_root(api, app, swap)
    signed_by_new = resign(draft, new_signers)
    response = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": signed_by_new}}
    )
    assert response.status_code == 200
    assert api.wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert root_files(api, app) == ["1.root.json"]  # the server kept it as a draft
    # Even if such a file appeared in the public store, a v1 client refuses it.
    forged = api.server.public_dir / "tuf_metadata" / api.username / app / "2.root.json"
    forged.write_text(json.dumps(signed_by_new))
    trusted_file = tmp_path / "root1.json"
    trusted_file.write_bytes(cer.root_bytes)
    try:
        with pytest.raises(UnsignedMetadataError):
            verify_download(
                api.server.public_url, api.username, app, trusted_file, target, tmp_path / "d"
            )
    finally:
        forged.unlink()


def test_rotating_online_keys_keeps_clients_verifying(api: Api, tmp_path: Path) -> None:
    app = "online-rot"
    cer, version_id, target = setup_repo(api, app)
    trusted_file = tmp_path / "root1.json"
    trusted_file.write_bytes(cer.root_bytes)
    client_meta = tmp_path / "client"
    verify_download(
        api.server.public_url, api.username, app, trusted_file, target, tmp_path / "d0", client_meta
    )
    new_online = create_online_key(api.server.key_dir, api.username, app)

    def rotate_online(root: Root) -> None:
        for role in ("timestamp", "snapshot"):
            root.revoke_key(cer.online_keyid, role)
            root.add_key(new_online, role)

    draft = next_root(api, app, rotate_online)
    signed = resign(draft, cer.root_signers)
    response = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": signed}}
    )
    assert response.status_code == 200, response.text
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["result"]["details"]["versions"]["root"] == 2
    folder = api.server.public_dir / "tuf_metadata" / api.username / app
    ts = json.loads((folder / "timestamp.json").read_bytes())
    assert {s["keyid"] for s in ts["signatures"]} == {new_online.keyid, cer.online_keyid}
    # The bridging timestamp and snapshot verify under the old AND the new root, so a
    # client on either side of the rotation accepts them at every moment.
    timestamp = Metadata.from_bytes((folder / "timestamp.json").read_bytes())
    snap_version = timestamp.signed.snapshot_meta.version
    snapshot = Metadata.from_bytes((folder / f"{snap_version}.snapshot.json").read_bytes())
    for root_file in ("1.root.json", "2.root.json"):
        root = Metadata[Root].from_bytes((folder / root_file).read_bytes()).signed
        root.verify_delegate("timestamp", timestamp.signed_bytes, timestamp.signatures)
        root.verify_delegate("snapshot", snapshot.signed_bytes, snapshot.signatures)
    # Old client: root v1 cached, updates to v2 and keeps verifying.
    verify_download(
        api.server.public_url, api.username, app, trusted_file, target, tmp_path / "d1", client_meta
    )
    # New publishes are signed by the new key only and verify for a fresh client.
    second = api.upload_ok(app, "2.0", {"b.deb": b"second"})
    api.publish_ok(second, "2.0")
    ts = json.loads(
        (
            api.server.public_dir / "tuf_metadata" / api.username / app / "timestamp.json"
        ).read_bytes()
    )
    assert [s["keyid"] for s in ts["signatures"]] == [new_online.keyid]
    verify_download(
        api.server.public_url,
        api.username,
        app,
        trusted_file,
        f"{app}-{api.username}/{app}-2.0.deb",
        tmp_path / "d2",
        tmp_path / "fresh",
    )
    assert version_id


def test_rotation_and_signature_rejections(api: Api) -> None:
    app = "rej"
    cer, _, _ = setup_repo(api, app, root_keys=2, threshold=2)
    stranger = CryptoSigner.generate_ed25519()
    nothing = {"metadata": {"root": next_root(api, app, lambda r: None)}}
    # Wrong version and expired root are refused at once.
    wrong_version = copy.deepcopy(nothing)
    wrong_version["metadata"]["root"]["signed"]["version"] = 5
    bad = api.post("/tuf/v1/metadata", params={"appName": app}, json=wrong_version)
    assert bad.status_code == 400 and "version 2" in bad.json()["error"]
    expired = copy.deepcopy(nothing)
    expired["metadata"]["root"]["signed"]["expires"] = (
        datetime.now(UTC) - timedelta(days=1)
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    bad = api.post("/tuf/v1/metadata", params={"appName": app}, json=expired)
    assert bad.status_code == 400 and "expired" in bad.json()["error"]
    dup = copy.deepcopy(nothing)
    sig = sig_for(cer.root_signers[0], dup["metadata"]["root"])
    dup["metadata"]["root"]["signatures"] = [sig, sig]
    bad = api.post("/tuf/v1/metadata", params={"appName": app}, json=dup)
    assert bad.status_code == 400 and "Multiple signatures" in bad.json()["error"]
    outsider = copy.deepcopy(nothing)
    outsider["metadata"]["root"]["signatures"] = [sig_for(stranger, outsider["metadata"]["root"])]
    bad = api.post("/tuf/v1/metadata", params={"appName": app}, json=outsider)
    assert bad.status_code == 400 and "not authorized" in bad.json()["error"]
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None

    # A stored draft: bad, foreign and duplicate signatures leave it unchanged.
    response = api.post("/tuf/v1/metadata", params={"appName": app}, json=nothing)
    assert response.status_code == 200
    draft = nothing["metadata"]["root"]
    good = sig_for(cer.root_signers[0], draft)
    assert post_sig(api, app, "root", good).status_code == 400  # 1 of 2+2
    before = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()
    broken = dict(good, keyid=cer.root_signers[1].public_key.keyid)
    for signature, fragment in [
        (broken, "does not verify"),
        (sig_for(stranger, draft), "not authorized"),
        (good, "already signed"),
        ({"keyid": "x"}, "signature"),
    ]:
        result = post_sig(api, app, "root", signature)
        assert result.status_code == 400
        assert fragment in result.json()["error"], result.json()
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json() == before
    assert root_files(api, app) == ["1.root.json"]
    no_draft = post_sig(api, app, "targets", good)
    assert no_draft.status_code == 404  # faynoSync's answer when nothing awaits signing
    assert no_draft.json() == {
        "error": "No metadata found in signing process for role targets",
        "message": "No signatures pending for targets",
    }
    assert (
        api.post(
            "/tuf/v1/metadata/sign", params={"appName": app}, json={"role": "root"}
        ).status_code
        == 400
    )


def test_cancel_draft(api: Api) -> None:
    app = "cancel"
    cer, _, _ = setup_repo(api, app)
    none = api.post("/tuf/v1/metadata/sign/delete", params={"appName": app}, json={"role": "root"})
    assert none.status_code == 400
    assert none.json() == {
        "error": "The root role is not in a signing process.",
        "message": "No signing process for root.",
    }
    draft = {"metadata": {"root": next_root(api, app, lambda r: None)}}
    draft["metadata"]["root"]["signed"]["roles"]["root"]["threshold"] = 1
    assert api.post("/tuf/v1/metadata", params={"appName": app}, json=draft).status_code == 200
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is not None
    response = api.post(
        "/tuf/v1/metadata/sign/delete", params={"appName": app}, json={"role": "root"}
    )
    assert response.status_code == 202
    assert response.json()["message"] == "Metadata sign delete accepted."
    assert api.wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None
    assert trusted_root(api, app)["signed"]["version"] == 1
    signed = resign(draft["metadata"]["root"], cer.root_signers)
    again = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": signed}}
    )
    assert again.status_code == 200
    assert api.wait_task(again.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert trusted_root(api, app)["signed"]["version"] == 2


def delegated_targets(
    api: Api, app: str, new_keyid: str, new_key: dict[str, Any]
) -> dict[str, Any]:
    """Trusted targets, version + 1, whose 'releases' role is keyed by ``new_keyid``."""
    current = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    targets = copy.deepcopy(current["trusted_targets"])
    signed = targets["signed"]
    signed["version"] += 1
    signed["delegations"]["keys"] = {new_keyid: new_key}
    signed["delegations"]["roles"][0]["keyids"] = [new_keyid]
    return {"signed": signed, "signatures": []}


def rotate(api: Api, app: str, body: dict[str, Any]) -> Any:
    return api.post("/tuf/v1/metadata/delegated/rotate", params={"appName": app}, json=body)


def test_delegated_key_rotation(api: Api, tmp_path: Path) -> None:
    app = "deleg-rot"
    offline = offline_targets(api, app)
    version_id = api.upload_ok(app, "1.0", {"a.deb": b"before rotation"})
    api.bootstrap_ok(offline.payload)
    api.publish_ok(version_id, "1.0")
    new_key = create_online_key(api.server.key_dir, api.username, app)
    targets = delegated_targets(api, app, new_key.keyid, new_key.to_dict())

    response = rotate(api, app, {"role": "releases", "metadata": {"targets": targets}})
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Metadata rotation staged for signing"
    assert api.wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]["metadata"]
    assert set(pending) == {"targets", "trusted_targets", "releases", "trusted_releases"}
    # The server signed the delegated draft with the new online key itself.
    assert [s["keyid"] for s in pending["releases"]["signatures"]] == [new_key.keyid]

    final = post_sig(api, app, "targets", sig_for(offline.targets_signer, pending["targets"]))
    assert final.status_code == 200, final.text
    assert api.wait_task(final.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None

    second = api.upload_ok(app, "2.0", {"b.deb": b"after rotation"})
    api.publish_ok(second, "2.0")
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": app, "roleName": "releases"}
    ).json()["data"]["trusted_delegated"]
    assert [s["keyid"] for s in delegated["signatures"]] == [new_key.keyid]
    trusted_file = tmp_path / "root.json"
    trusted_file.write_bytes(offline.root_bytes)
    for version in ("1.0", "2.0"):
        path = f"{app}-{api.username}/{app}-{version}.deb"
        verify_download(
            api.server.public_url, api.username, app, trusted_file, path, tmp_path / version
        )


def test_delegated_rotation_rejections(api: Api) -> None:
    app = "deleg-rej"
    offline = offline_targets(api, app)
    assert rotate(api, app, {"role": "releases", "metadata": {}}).status_code == 400  # no bootstrap
    api.bootstrap_ok(offline.payload)
    new_key = create_online_key(api.server.key_dir, api.username, app)
    good = delegated_targets(api, app, new_key.keyid, new_key.to_dict())
    stranger = CryptoSigner.generate_ed25519()

    def variant(change: Any) -> dict[str, Any]:
        targets = copy.deepcopy(good)
        change(targets)
        return targets

    expired_at = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = sig_for(offline.targets_signer, good)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"role": "snapshot", "metadata": {"targets": good}}, "top-level"),
        ({"role": "targets", "metadata": {"targets": good}}, "top-level"),
        (
            {
                "role": "releases",
                "metadata": {"targets": variant(lambda t: t["signed"].update(_type="root"))},
            },
            "_type",
        ),
        (
            {
                "role": "releases",
                "metadata": {"targets": variant(lambda t: t["signed"].update(expires=expired_at))},
            },
            "freeze",
        ),
        (
            {
                "role": "releases",
                "metadata": {"targets": variant(lambda t: t["signed"].update(version=1))},
            },
            "rollback",
        ),
        (
            {
                "role": "releases",
                "metadata": {"targets": variant(lambda t: t.update(signatures=[sig, sig]))},
            },
            "Multiple signatures",
        ),
        (
            {
                "role": "releases",
                "metadata": {
                    "targets": variant(lambda t: t.update(signatures=[sig_for(stranger, good)]))
                },
            },
            "not authorized",
        ),
        (
            {
                "role": "releases",
                "metadata": {
                    "targets": variant(
                        lambda t: t["signed"]["delegations"]["keys"].update(
                            {new_key.keyid: stranger.public_key.to_dict()}
                        )
                    )
                },
            },
            "does not match its key material",
        ),
        ({"role": "nightly", "metadata": {"targets": good}}, "does not delegate"),
        ({"role": "releases", "delegator": "releases", "metadata": {"targets": good}}, "delegator"),
        ({"role": "releases", "metadata": {"targets": good, "other": good}}, "may only contain"),
        ({"role": "releases", "metadata": {"other": good}}, "must contain"),
    ]
    for body, fragment in cases:
        response = rotate(api, app, body)
        assert response.status_code == 400, (body, response.text)
        assert fragment in response.json()["error"], (fragment, response.json())
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None
    staged = rotate(api, app, {"role": "releases", "metadata": {"targets": good}})
    assert staged.status_code == 200
    # Staging again replaces the rotation awaiting signatures (as faynoSync does).
    assert rotate(api, app, {"role": "releases", "metadata": {"targets": good}}).status_code == 200
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]
    assert sorted(pending["metadata"]) == [
        "releases",
        "targets",
        "trusted_releases",
        "trusted_targets",
    ]


def test_concurrent_signatures_are_all_kept(api: Api) -> None:
    app = "concurrent-sign"
    cer, _, _ = setup_repo(api, app, root_keys=4, threshold=4)
    draft = next_root(api, app, lambda r: None)
    assert (
        api.post(
            "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": draft}}
        ).status_code
        == 200
    )
    statuses: list[int] = []

    def send(signer: Signer) -> None:
        statuses.append(post_sig(api, app, "root", sig_for(signer, draft)).status_code)

    threads = [threading.Thread(target=send, args=(s,)) for s in cer.root_signers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Every signature was kept: the last one to land completed the draft.
    assert sorted(statuses) == [200, 400, 400, 400]
    deadline = 50
    while root_files(api, app) != ["1.root.json", "2.root.json"] and deadline:
        time.sleep(0.1)
        deadline -= 1
    assert root_files(api, app) == ["1.root.json", "2.root.json"]


def test_delegated_rotation_can_add_a_role(api: Api, tmp_path: Path) -> None:
    app = "deleg-add"
    offline = offline_targets(api, app, paths=[f"{app}-{api.username}/stable/*"])
    api.bootstrap_ok(offline.payload)
    new_key = create_online_key(api.server.key_dir, api.username, app)
    current = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    targets = copy.deepcopy(current["trusted_targets"])
    signed = targets["signed"]
    signed["version"] += 1
    signed["delegations"]["keys"][new_key.keyid] = new_key.to_dict()
    signed["delegations"]["roles"].append(
        {
            "name": "beta",
            "keyids": [new_key.keyid],
            "threshold": 1,
            "terminating": True,
            "paths": [f"{app}-{api.username}/beta/*"],
        }
    )
    draft = {"signed": signed, "signatures": []}
    response = rotate(api, app, {"role": "beta", "metadata": {"targets": draft}})
    assert response.status_code == 200, response.text
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]["metadata"]
    assert pending["beta"]["signed"]["version"] == 1
    final = post_sig(api, app, "targets", sig_for(offline.targets_signer, pending["targets"]))
    assert final.status_code == 200, final.text
    assert api.wait_task(final.json()["data"]["task_id"])["state"] == "SUCCESS"
    config = api.get("/tuf/v1/config", params={"appName": app}).json()["data"]
    assert set(config["delegated_roles"]) == {"releases", "beta"}
    version_id = api.upload_ok(app, "1.0", {"b.bin": b"beta build"}, channel="beta")
    api.publish_ok(version_id, "1.0")
    trusted = tmp_path / "root.json"
    trusted.write_bytes(offline.root_bytes)
    path = f"{app}-{api.username}/beta/{app}-1.0.bin"
    verify_download(api.server.public_url, api.username, app, trusted, path, tmp_path / "d")
