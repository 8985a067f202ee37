"""A root rotation that changes the keys of an offline targets role: a root under
which the published targets stops verifying is never published (TUF specification
§5.3.11: after a root update the client verifies targets with the new keys)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import Metadata, Root

from tests.integration.test_tuf_signing import next_root, post_sig, root_files, sig_for
from tests.support import Api, OfflineTargets, offline_targets
from tufsync.keyholder.verify import verify_download

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
    api: Api, app: str, offline: OfflineTargets, tmp: Path, clients: list[Path]
) -> None:
    """Each client (a metadata folder; an empty one is a fresh client from root v1)
    refreshes over HTTP and downloads every release."""
    trusted = tmp / "root1.json"
    trusted.write_bytes(offline.root_bytes)
    for n, meta in enumerate(clients):
        for version in ("1.0", "2.0"):
            target = f"{app}-{api.username}/{app}-{version}.deb"
            dest = tmp / f"d{n}-{version}"
            verify_download(api.server.public_url, api.username, app, trusted, target, dest, meta)


def test_root_replacing_offline_targets_key_waits_for_targets(api: Api, tmp_path: Path) -> None:
    app = "offrot"
    offline = offline_targets(api, app)
    first = api.upload_ok(app, "1.0", {"a.deb": b"release one"})
    api.bootstrap_ok(offline.payload)
    api.publish_ok(first, "1.0")
    old_client = tmp_path / "old-client"
    trusted = tmp_path / "root1.json"
    trusted.write_bytes(offline.root_bytes)
    verify_download(
        api.server.public_url,
        api.username,
        app,
        trusted,
        f"{app}-{api.username}/{app}-1.0.deb",
        tmp_path / "d0",
        old_client,
    )
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
