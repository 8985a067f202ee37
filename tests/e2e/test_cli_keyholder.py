"""The key holder's CLI against a real server: `tufsync drafts`, `sign` and `release`
for a delegated role the server cannot sign (one holder's key in a file, one on a
SoftHSM2 token; or a developer's own key, bootstrapped by `tufsync ceremony --role-key`),
checked by python-tuf's ngclient and tuf-js."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner, SecretsHandler, Signature, Signer, SSlibKey

from tests.e2e.test_tufjs_client import tufjs
from tests.hsm import PIN, SoftHsm, make_token
from tests.support import PASSWORD, Api, Cli, ceremony, offline_role
from tufsync.keyholder.keyfiles import write_private
from tufsync.keyholder.verify import verify_download

pytestmark = pytest.mark.slow

# Signs on the token in a child process, so this process never loads the PKCS#11
# module (tests/hsm.py): the same code path as `tufsync sign --hsm`.
_TOKEN_SIGN = """
import json, sys
from tufsync.keyholder.hardware import uri_signer
signer = uri_signer(sys.argv[1], lambda _: sys.argv[2])
sig = signer.sign(sys.stdin.buffer.read())
print(json.dumps({"key": signer.public_key.to_dict(), "keyid": signer.public_key.keyid,
                  "sig": sig.to_dict()}))
"""


class TokenHolder(Signer):
    """A holder whose key is on the SoftHSM2 token (key id 2)."""

    def __init__(self, token: SoftHsm) -> None:
        self.env = {**os.environ, **token.env}
        self.uri = f"hsm:2?label={token.label}"
        first = self._run(b"")
        self._public = SSlibKey.from_dict(first["keyid"], first["key"])

    def _run(self, payload: bytes) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-c", _TOKEN_SIGN, self.uri, PIN],
            input=payload,
            env=self.env,
            capture_output=True,
            check=True,
        )
        return dict(json.loads(done.stdout))

    @property
    def public_key(self) -> SSlibKey:
        return self._public

    def sign(self, payload: bytes) -> Signature:
        return Signature.from_dict(self._run(payload)["sig"])

    @classmethod
    def from_priv_key_uri(
        cls, priv_key_uri: str, public_key: Any, secrets_handler: SecretsHandler | None = None
    ) -> Signer:
        raise NotImplementedError("made from a token, not a URI")


def _key_file(tmp_path: Path, name: str) -> tuple[CryptoSigner, str]:
    signer = CryptoSigner.generate_ed25519()
    path = tmp_path / f"{name}.pem"
    write_private(path, signer._private_key)  # type: ignore[attr-defined]
    return signer, str(path)


def _pending(api: Api, app: str) -> dict[str, Any]:
    listed = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]
    return dict((listed or {}).get("metadata") or {})


def _logged_in(api: Api, tmp_path: Path) -> Cli:
    cli = Cli(api.server, tmp_path)
    cli.run("login", "-u", api.username, "-p", PASSWORD, "--url", api.server.url)
    return cli


def test_two_holders_sign_a_release_by_file_and_by_token(api: Api, tmp_path: Path) -> None:
    app = "holders"
    cli = _logged_in(api, tmp_path)
    token = make_token(tmp_path / "softhsm")
    cli.env.update(token.with_pin())
    by_file, key_file = _key_file(tmp_path, "holder1")
    by_token = TokenHolder(token)
    setup = offline_role(api, app, [by_file, by_token], 2)
    api.bootstrap_ok(setup.payload)

    data = b"a release two holders vouch for"
    published = api.publish_ok(api.upload_ok(app, "1.0", {"app.deb": data}), "1.0")
    assert published["result"]["details"]["awaiting_signatures"] == {"default": 2}
    [path] = published["result"]["details"]["awaiting_artifacts"]

    listed = cli.json("drafts", "--app", app)["pending"]["default"]
    assert listed["trusted_version"] == 1 and listed["version"] == 2
    [added] = listed["targets_added"]
    assert added == {"path": path, "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert listed["targets_removed"] == [] and listed["targets_changed"] == []
    [side] = listed["signing"]
    assert side["threshold"] == 2 and side["signed"] == []
    assert side["keyids"] == sorted([by_file.public_key.keyid, by_token.public_key.keyid])
    text = cli.run("drafts", "--app", app).stdout
    assert f"target added: {path} ({len(data)} bytes, sha256 {added['sha256']})" in text

    # Without --yes, sign shows the diff and asks; "n" signs nothing.
    sign_by_file = ("sign", "--app", app, "--role", "default", "--key", key_file)
    asked = cli.run(*sign_by_file, answer="n\n", check=False)
    assert asked.returncode == 1 and "Sign it?" in asked.stdout and path in asked.stdout
    assert _pending(api, app)["default"]["signatures"] == []

    stranger = _key_file(tmp_path, "stranger")[1]
    refused = cli.run("sign", "--app", app, "--role", "default", "--key", stranger, check=False)
    assert refused.returncode == 1 and "is not one of the keys that sign" in refused.stderr

    first = cli.run(*sign_by_file, answer="y\n")
    assert path in first.stdout and "Progress: 1/2" in first.stdout, first.stdout
    done = cli.json("sign", "--app", app, "--role", "default", "--hsm", "--yes")
    assert done["state"] == "SUCCESS", done
    assert done["result"]["details"]["signed_artifacts"] == [path]
    assert _pending(api, app) == {}

    root = tmp_path / "root.json"
    root.write_bytes(setup.root_bytes)
    got = verify_download(api.server.public_url, api.username, app, root, path, tmp_path / "ng")
    assert got.local_file.read_bytes() == data
    js = tmp_path / "js"
    (js / "meta").mkdir(parents=True)
    (js / "targets").mkdir()
    shutil.copy(root, js / "meta" / "root.json")
    [result] = tufjs(api, app, js, [path])["results"]
    assert result["ok"], result
    assert Path(result["file"]).read_bytes() == data


def test_release_signs_with_the_developers_own_key(api: Api, tmp_path: Path) -> None:
    app = "ownkey"
    cli = _logged_in(api, tmp_path)
    holder, key_file = _key_file(tmp_path, "mine")
    root_key = _key_file(tmp_path, "root")[1]
    made = cli.json(
        "ceremony", "--app", app, "--admin", api.username, "--root-key", root_key,
        "--server-keys", "--role-key", key_file, "--out", "bootstrap.json",
    )  # fmt: skip
    assert made["offline_role_keyids"] == [holder.public_key.keyid]
    assert cli.json("bootstrap", "bootstrap.json")["state"] == "SUCCESS"
    payload = json.loads((tmp_path / "bootstrap.json").read_text())
    (tmp_path / "root.json").write_text(json.dumps(payload["metadata"]["root"]))
    for version in ("1.0", "2.0", "3.0"):
        (tmp_path / f"app-{version}.deb").write_bytes(f"release {version}".encode())

    def release(version: str, key: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return cli.run(
            "release", "--app", app, "--version", version, "--file", f"app-{version}.deb",
            "--key", key, "--platform", "linux", "--arch", "x64", "--json", *extra, check=False,
        )  # fmt: skip

    # A key the role does not list: published into the draft, and who must sign is said.
    stranger = _key_file(tmp_path, "stranger")[1]
    waiting = release("1.0", stranger)
    assert waiting.returncode == 2, waiting.stderr
    answer = json.loads(waiting.stdout)
    assert answer["released"] is False and answer["awaiting_signatures"] == {"default": 2}
    assert holder.public_key.keyid in answer["waiting_for"]["default"]
    assert "is not one that still signs it" in answer["waiting_for"]["default"]
    [first_path] = answer["artifacts"]
    assert first_path.startswith(f"{app}-{api.username}/linux/x64/")

    # The draft now carries 1.0 too: in JSON mode that needs --yes.
    careful = release("2.0", key_file)
    assert careful.returncode == 1 and "carries other changes too" in careful.stderr

    done = release("3.0", key_file, "--yes", "--root", "root.json")
    assert done.returncode == 0, done.stderr
    released = json.loads(done.stdout)
    assert released["released"] is True and released["signed_roles"] == ["default"]
    assert released["verified_from_root"] is True
    [path] = released["artifacts"]
    assert released["visible"] == {path: hashlib.sha256(b"release 3.0").hexdigest()}
    for listed, data in ((first_path, b"release 1.0"), (path, b"release 3.0")):
        got = verify_download(
            api.server.public_url, api.username, app, tmp_path / "root.json", listed,
            tmp_path / "ng" / listed,
        )  # fmt: skip
        assert got.local_file.read_bytes() == data


def test_release_into_an_online_role_is_upload_publish_and_wait(api: Api, tmp_path: Path) -> None:
    app = "online"
    cli = _logged_in(api, tmp_path)
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    (tmp_path / "app.deb").write_bytes(b"signed by the server")
    released = cli.json("release", "--app", app, "--version", "1.0", "--file", "app.deb")
    assert released["released"] is True and released["awaiting_signatures"] == {}
    assert released["signed_roles"] == [] and released["verified_from_root"] is False
    [(path, sha256)] = released["visible"].items()
    assert sha256 == hashlib.sha256(b"signed by the server").hexdigest()
    assert path in released["artifacts"]
