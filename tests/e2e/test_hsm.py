"""Root keys on a PKCS#11 token (SoftHSM2): import, ceremony, bootstrap, rotation, sign."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hsm import make_token
from tests.support import PASSWORD, Api, Cli, ServerProcess, unique_name

pytestmark = pytest.mark.slow


def test_root_signed_on_a_token(server: ServerProcess, tmp_path: Path) -> None:
    api = Api(server, unique_name("hsm"))
    cli = Cli(server, tmp_path)
    cli.run("login", "-u", api.username, "-p", PASSWORD, "--url", server.url)
    token = make_token(tmp_path / "softhsm", key_ids=(2, 3))
    cli.env.update(token.with_pin())
    second_uri = f"hsm:3?label={token.label}"

    first = cli.json("keys", "import-hsm", "--out", "pubs")
    second = cli.json("keys", "import-hsm", "--hsm-keyid", "3")
    assert first["signer_uri"] == f"hsm:2?label={token.label}"
    assert second["signer_uri"] == second_uri
    assert first["public_key"]["scheme"] == "ecdsa-sha2-nistp256"
    assert "PRIVATE" not in json.dumps(first)
    assert (tmp_path / first["public_key_file"]).is_file()

    app = "tokenapp"
    api.upload_ok(app, "1.0", {"t.deb": b"signed under a token's root"})
    ceremony = [
        "ceremony", "--app", app, "--admin", api.username, "--hsm", "--root-key", second_uri,
        "--threshold", "2", "--online-key-dir", str(server.key_dir), "--out", "bootstrap.json",
    ]  # fmt: skip

    # A wrong PIN is named as such, and nothing is written.
    cli.env["TUFSYNC_HSM_PIN"] = "000000"
    wrong = cli.run(*ceremony, check=False)
    assert wrong.returncode == 1 and "PIN incorrect" in wrong.stderr, wrong.stderr
    assert not (tmp_path / "bootstrap.json").exists()
    assert not (server.key_dir / api.username / app).exists()
    cli.env.update(token.with_pin())

    made = cli.json(*ceremony)
    assert made["root_keyids"] == [second["keyid"], first["keyid"]]
    assert cli.json("bootstrap", "bootstrap.json")["state"] == "SUCCESS"
    assert cli.json("publish", "--app", app, "--version", "1.0")["state"] == "SUCCESS"
    root = json.loads((tmp_path / "bootstrap.json").read_text())["metadata"]["root"]
    (tmp_path / "root.json").write_text(json.dumps(root))
    target = f"{app}-{api.username}/{app}-1.0.deb"
    verified = cli.json(
        "verify", target, "--root", "root.json", "--admin", api.username, "--app", app,
        "--public-url", server.public_url,
    )  # fmt: skip
    assert verified["verified"] == target

    # Rotation: a new file key joins; both token keys sign the draft.
    new_key = cli.json("keys", "new", "--out", "new-keys")
    rotation = cli.json(
        "rotate-root", "--app", app, "--add-key", f"new-keys/{new_key['keyid']}.pub.json"
    )
    assert rotation["state"] == "SUCCESS"
    partial = cli.json("sign", "--app", app, "--hsm", "--yes")
    assert partial["complete"] is False and "more required" in partial["progress"]
    assert cli.json("sign", "--app", app, "--key", second_uri, "--yes")["state"] == "SUCCESS"
    trusted = api.get("/tuf/v1/metadata/root", params={"appName": app}).json()["data"]
    assert trusted["trusted_root"]["signed"]["version"] == 2
    signers = {s["keyid"] for s in trusted["trusted_root"]["signatures"]}
    assert signers == {first["keyid"], second["keyid"]}
    trail = cli.json("audit", "--app", app)["items"]
    added = [i["details"]["keyid"] for i in trail if i["event"] == "signature_added"]
    assert added == [second["keyid"], first["keyid"]]

    # Without PYKCS11LIB the command says what to set.
    del cli.env["PYKCS11LIB"]
    missing = cli.run("keys", "import-hsm", check=False)
    assert missing.returncode == 1 and "PYKCS11LIB" in missing.stderr
    both = cli.run("sign", "--app", app, "--hsm", "--key", second_uri, check=False)
    assert both.returncode == 1 and "exactly one key" in both.stderr
