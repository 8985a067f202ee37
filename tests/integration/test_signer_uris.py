"""Online keys behind signer URIs, allowed per admin by the operator."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.support import Api, ceremony, resign, run_server, unique_name
from tufsync.keyholder.keyfiles import new_key_file
from tufsync.keyholder.verify import verify_download


def with_uri_key(
    payload: dict[str, object], signers: list[object], key: dict[str, object], keyid: str, uri: str
) -> dict[str, object]:
    """The payload's root with timestamp/snapshot/targets moved to ``key`` behind ``uri``."""
    out = copy.deepcopy(payload)
    root = out["metadata"]["root"]  # type: ignore[index]
    signed = root["signed"]
    signed["keys"][keyid] = {**key, "x-tufsync-online-uri": uri}
    for role in ("timestamp", "snapshot", "targets"):
        signed["roles"][role]["keyids"] = [keyid]
    out["metadata"]["root"] = resign(root, signers)  # type: ignore[index, arg-type]
    return out


def test_signer_uri_keys(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    vault = tmp_path / "vault"
    allowed_admin = unique_name("uri")
    other_admin = unique_name("uri")
    prefixes = {allowed_admin: [f"file2:{vault}/"]}
    data = tmp_path_factory.mktemp("uri-server")
    with run_server(data, {"TUFSYNC_SIGNER_URI_PREFIXES": json.dumps(prefixes)}) as server:
        owner, other = Api(server, allowed_admin), Api(server, other_admin)
        key_path, public = new_key_file("ed25519", vault)
        uri = f"file2:{key_path}"
        cer = ceremony(server.key_dir, owner.username, "kms")
        payload = with_uri_key(cer.payload, cer.root_signers, public.to_dict(), public.keyid, uri)
        owner.bootstrap_ok(payload)
        version_id = owner.upload_ok("kms", "1.0", {"a.bin": b"signed through a URI"})
        owner.publish_ok(version_id, "1.0")
        root = json.dumps(payload["metadata"]["root"]).encode()  # type: ignore[index]
        trusted = tmp_path / "root.json"
        trusted.write_bytes(root)
        path = f"kms-{owner.username}/default/universal/any/kms-1.0.bin"
        verify_download(server.public_url, owner.username, "kms", trusted, path, tmp_path / "d")

        # Another admin naming the same URI is refused: prefixes are granted per admin.
        foreign = ceremony(server.key_dir, other.username, "kms")
        stolen = with_uri_key(
            foreign.payload, foreign.root_signers, public.to_dict(), public.keyid, uri
        )
        refused = other.post("/tuf/v1/bootstrap", json=stolen)
        assert refused.status_code == 400
        assert "not available to the server" in refused.json()["error"]
        # A URI escaping the allowed prefix is refused too.
        owner2 = ceremony(server.key_dir, owner.username, "kms2")
        sneaky = with_uri_key(
            owner2.payload,
            owner2.root_signers,
            public.to_dict(),
            public.keyid,
            f"file2:{vault}/../vault/{key_path.name}",
        )
        assert owner.post("/tuf/v1/bootstrap", json=sneaky).status_code == 400
