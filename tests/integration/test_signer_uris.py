"""Online keys behind signer URIs, bound per admin and app by the operator's settings."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Api, ceremony, free_port, resign, run_server, unique_name
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
    owner_name = unique_name("uri")
    other_name = unique_name("uri")
    # Every admin gets its own folder per app; the owner also gets one named folder.
    prefixes = {
        "*": [f"file2:{vault}/t/{{admin}}/{{app}}/"],
        owner_name: [f"file2:{vault}/{owner_name}"],
    }
    data = tmp_path_factory.mktemp("uri-server")
    with run_server(data, {"TUFSYNC_SIGNER_URI_PREFIXES": json.dumps(prefixes)}) as server:
        owner, other = Api(server, owner_name), Api(server, other_name)
        key_path, public = new_key_file("ed25519", vault / "t" / owner.username / "kms")
        uri = f"file2:{key_path}"
        cer = ceremony(server.key_dir, owner.username, "kms")
        payload = with_uri_key(cer.payload, cer.root_signers, public.to_dict(), public.keyid, uri)
        owner.bootstrap_ok(payload)
        version_id = owner.upload_ok("kms", "1.0", {"a.bin": b"signed through a URI"})
        owner.publish_ok(version_id, "1.0")
        root = json.dumps(payload["metadata"]["root"]).encode()  # type: ignore[index]
        trusted = tmp_path / "root.json"
        trusted.write_bytes(root)
        path = f"kms-{owner.username}/kms-1.0.bin"
        verify_download(server.public_url, owner.username, "kms", trusted, path, tmp_path / "d")

        def refused(api: Api, app: str, key_uri: str) -> None:
            cer = ceremony(server.key_dir, api.username, app)
            bad = with_uri_key(
                cer.payload, cer.root_signers, public.to_dict(), public.keyid, key_uri
            )
            response = api.post("/tuf/v1/bootstrap", json=bad)
            assert response.status_code == 400, response.text
            assert "not available to the server" in response.json()["error"]

        # Another admin naming the owner's URI is refused: "*" grants each admin its own.
        refused(other, "kms", uri)
        # So is another app of the same admin: the template binds the app too.
        refused(owner, "kms2", uri)
        # A URI escaping the allowed prefix is refused.
        refused(owner, "kms3", f"file2:{vault}/t/{owner.username}/kms3/../kms/{key_path.name}")
        # A named prefix stops at a boundary: ".../<owner>" never allows ".../<owner>2/...".
        neighbour = vault / f"{owner.username}2" / key_path.name
        neighbour.parent.mkdir(parents=True)
        neighbour.write_bytes(key_path.read_bytes())
        refused(owner, "kms4", f"file2:{vault}/{owner.username}2/{key_path.name}")


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ({"*": ["file2:/srv/hsm-keys/"]}, "has no {admin}"),
        ({"alice": ["file2:/srv/k/alice"], "bob": ["file2:/srv/k/"]}, "overlap"),
    ],
)
def test_start_up_refuses_a_setting_that_shares_keys(
    tmp_path: Path, setting: dict[str, list[str]], reason: str
) -> None:
    """The README's old example (an untemplated prefix under "*") no longer starts."""
    env = {
        **os.environ,
        "TUFSYNC_DATA_DIR": str(tmp_path),
        "TUFSYNC_PORT": str(free_port()),
        "TUFSYNC_SIGNER_URI_PREFIXES": json.dumps(setting),
    }
    for command in ("serve", "worker"):
        done = subprocess.run(
            [sys.executable, "-m", "tufsync", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert done.returncode == 2, done
        assert "TUFSYNC_SIGNER_URI_PREFIXES" in done.stderr and reason in done.stderr
        assert "Traceback" not in done.stderr
