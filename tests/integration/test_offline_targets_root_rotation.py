"""A root rotation that changes the keys of an offline targets role: a root under
which the published targets stops verifying is never published (TUF specification
§5.3.11: after a root update the client verifies targets with the new keys)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Root, Targets

from tests.integration.test_tuf_signing import next_root, post_sig, root_files, sig_for
from tests.support import Api, OfflineTargets, ceremony, offline_targets
from tufsync.keyholder.verify import verify_download
from tufsync.names import target_patterns

REFUSAL = "Targets must be signed by the new keys first"


def post_root(api: Api, app: str, root: dict[str, Any]) -> Any:
    return api.post("/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": root}})


def signed(root: dict[str, Any], signers: list[Signer]) -> dict[str, Any]:
    md = Metadata[Root].from_dict(copy.deepcopy(root))
    for signer in signers:
        md.sign(signer, append=True)
    return md.to_dict()


def swap_targets_keys(old: Signer, new: list[Signer]) -> Any:
    def change(root: Root) -> None:
        root.revoke_key(old.public_key.keyid, "targets")
        for signer in new:
            root.add_key(signer.public_key, "targets")

    return change


def publish_root_ok(api: Api, app: str, root: dict[str, Any]) -> None:
    response = post_root(api, app, root)
    assert response.status_code == 200, response.text
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task


def resign_targets(api: Api, app: str, signer: Signer) -> None:
    """Stage the published targets again (version + 1) and sign it with ``signer``."""
    current = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    targets = copy.deepcopy(current["trusted_targets"])
    targets["signed"]["version"] += 1
    targets["signatures"] = []
    staged = api.post(
        "/tuf/v1/metadata/delegated/rotate",
        params={"appName": app},
        json={"role": "releases", "metadata": {"targets": targets}},
    )
    assert staged.status_code == 200, staged.text
    assert api.wait_task(staged.json()["data"]["task_id"])["state"] == "SUCCESS"
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]["metadata"]
    final = post_sig(api, app, "targets", sig_for(signer, pending["targets"]))
    assert final.status_code == 200, final.text
    assert api.wait_task(final.json()["data"]["task_id"])["state"] == "SUCCESS"


def refresh_all(
    api: Api,
    app: str,
    offline: OfflineTargets,
    tmp: Path,
    clients: list[Path],
    versions: tuple[str, ...] = ("1.0", "2.0"),
) -> None:
    """Each client (a metadata folder; a new one is a fresh client from root v1)
    refreshes with ngclient over HTTP and downloads each release."""
    trusted = tmp / "root1.json"
    trusted.write_bytes(offline.root_bytes)
    for meta in clients:
        for version in versions:
            target = f"{app}-{api.username}/{app}-{version}.deb"
            dest = tmp / f"{meta.name}-{version}"
            verify_download(api.server.public_url, api.username, app, trusted, target, dest, meta)


def test_root_replacing_offline_targets_key_waits_for_targets(api: Api, tmp_path: Path) -> None:
    app = "offrot"
    offline = offline_targets(api, app)
    first = api.upload_ok(app, "1.0", {"a.deb": b"release one"})
    api.bootstrap_ok(offline.payload)
    api.publish_ok(first, "1.0")
    old_client = tmp_path / "old-client"
    refresh_all(api, app, offline, tmp_path, [old_client], ("1.0",))
    root_signers = offline.ceremony.root_signers
    new_key = CryptoSigner.generate_ed25519()

    # A fully signed root that replaces the targets key at once: the published
    # targets (signed by the old key only) would not verify under it.
    swap = signed(
        next_root(api, app, swap_targets_keys(offline.targets_signer, [new_key])), root_signers
    )
    refused = post_root(api, app, swap)
    assert refused.status_code == 400, refused.text
    assert REFUSAL in refused.json()["error"]
    assert "carries 0 of the 1 signatures" in refused.json()["error"]
    assert root_files(api, app) == ["1.root.json"]

    # In steps: add the new key alongside the old one, re-sign targets with the new
    # key, then drop the old key.
    def add_new(root: Root) -> None:
        root.add_key(new_key.public_key, "targets")

    publish_root_ok(api, app, signed(next_root(api, app, add_new), root_signers))
    resign_targets(api, app, new_key)

    def drop_old(root: Root) -> None:
        root.revoke_key(offline.targets_signer.public_key.keyid, "targets")

    publish_root_ok(api, app, signed(next_root(api, app, drop_old), root_signers))
    assert root_files(api, app) == ["1.root.json", "2.root.json", "3.root.json"]
    second = api.upload_ok(app, "2.0", {"b.deb": b"release two"})
    api.publish_ok(second, "2.0")
    refresh_all(api, app, offline, tmp_path, [tmp_path / "fresh-client", old_client])


def two_targets_keys(api: Api, app: str) -> tuple[OfflineTargets, Signer]:
    """An offline-targets bootstrap (2 of 2 root keys) whose root lists a second
    targets key beside the one that signed targets v1 (threshold 1)."""
    cer = ceremony(api.server.key_dir, api.username, app, root_keys=2, threshold=2)
    first, second = CryptoSigner.generate_ed25519(), CryptoSigner.generate_ed25519()
    payload = copy.deepcopy(cer.payload)
    root = Metadata[Root].from_dict(copy.deepcopy(payload["metadata"]["root"]))
    root.signed.revoke_key(cer.online_keyid, "targets")
    root.signed.add_key(first.public_key, "targets")
    root.signed.add_key(second.public_key, "targets")
    root.signatures.clear()
    for signer in cer.root_signers:
        root.sign(signer, append=True)
    online_key = root.signed.keys[cer.online_keyid]
    releases = DelegatedRole(
        "releases", [cer.online_keyid], 1, True, target_patterns(api.username, app)
    )
    delegations = Delegations(keys={cer.online_keyid: online_key}, roles={"releases": releases})
    targets = Metadata(Targets(version=1, expires=root.signed.expires, delegations=delegations))
    targets.sign(first)
    payload["metadata"] = {"root": root.to_dict(), "targets": targets.to_dict()}
    payload["settings"]["roles"]["targets"]["online_key"] = False
    return OfflineTargets(payload, cer, first), second


def test_last_root_signature_refused_when_targets_moved_to_a_dropped_key(
    api: Api, tmp_path: Path
) -> None:
    """The rule is checked again when the root draft's last signature arrives: here
    targets was re-signed, between the draft and its signatures, by a key the draft
    drops."""
    app = "offrot-late"
    boot, second = two_targets_keys(api, app)
    first = api.upload_ok(app, "1.0", {"a.deb": b"release one"})
    api.bootstrap_ok(boot.payload)
    api.publish_ok(first, "1.0")
    old_client = tmp_path / "old-client"
    refresh_all(api, app, boot, tmp_path, [old_client], ("1.0",))

    def drop_second(root: Root) -> None:
        root.revoke_key(second.public_key.keyid, "targets")

    draft = next_root(api, app, drop_second)  # targets v1 (first key) verifies under it
    staged = post_root(api, app, draft)
    assert staged.status_code == 200, staged.text
    assert api.wait_task(staged.json()["data"]["task_id"])["state"] == "SUCCESS"
    resign_targets(api, app, second)  # targets v2: signed by the key the draft drops

    signers = boot.ceremony.root_signers
    assert post_sig(api, app, "root", sig_for(signers[0], draft)).status_code == 400
    last = post_sig(api, app, "root", sig_for(signers[1], draft))
    assert last.status_code == 400, last.text
    assert REFUSAL in last.json()["error"]
    assert "(version 2) carries 0 of the 1 signatures" in last.json()["error"]
    assert root_files(api, app) == ["1.root.json"]
    second_release = api.upload_ok(app, "2.0", {"b.deb": b"release two"})
    api.publish_ok(second_release, "2.0")
    refresh_all(api, app, boot, tmp_path, [tmp_path / "fresh-client", old_client])
