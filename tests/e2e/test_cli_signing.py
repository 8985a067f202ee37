"""Key holders' CLI: rotate-root, drafts, sign, drafts cancel, against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import PASSWORD, Api, Cli, ceremony
from tufsync.keyholder.keyfiles import write_private

pytestmark = pytest.mark.slow


def test_rotate_root_and_sign_through_the_cli(api: Api, tmp_path: Path) -> None:
    cli = Cli(api.server, tmp_path)
    cli.run("login", "-u", api.username, "-p", PASSWORD, "--url", api.server.url)
    cer = ceremony(api.server.key_dir, api.username, "clisign", root_keys=2, threshold=2)
    api.bootstrap_ok(cer.payload)
    key_files = []
    for i, signer in enumerate(cer.root_signers):
        path = tmp_path / f"root{i}.pem"
        write_private(path, signer._private_key)  # type: ignore[attr-defined]
        key_files.append(str(path))
    new_key = cli.json("keys", "new", "--out", "new-keys")

    started = cli.json(
        "rotate-root",
        "--app",
        "clisign",
        "--add-key",
        f"new-keys/{new_key['keyid']}.pub.json",
        "--threshold",
        "3",
    )
    assert started["state"] == "SUCCESS"
    listed = cli.json("drafts", "--app", "clisign")["pending"]
    assert list(listed) == ["root"] and listed["root"]["version"] == 2
    [change] = listed["root"]["root_roles_changed"]
    assert change["keys_added"] == [new_key["keyid"]] and change["threshold"] == [2, 3]
    assert [(s["side"], s["threshold"], s["signed"]) for s in listed["root"]["signing"]] == [
        ("trusted root", 2, []),
        ("new root", 3, []),
    ]
    first = cli.json("sign", "--app", "clisign", "--key", key_files[0])
    assert (
        first["complete"] is False
        and "Progress: 2/5 signatures collected (1 old + 1 new)" in first["progress"]
    )
    text = cli.run("sign", "--app", "clisign", "--key", key_files[1], "--yes").stdout
    assert "keys added" in text or "Progress" in text
    done = cli.json("sign", "--app", "clisign", "--key", str(new_key["private_key_file"]))
    assert done["state"] == "SUCCESS"
    root = api.get("/tuf/v1/metadata/root", params={"appName": "clisign"}).json()["data"]
    assert root["trusted_root"]["signed"]["version"] == 2
    assert cli.json("drafts", "--app", "clisign")["pending"] == {}

    cli.json("rotate-root", "--app", "clisign", "--expires-days", "30")
    assert "root" in cli.json("drafts", "--app", "clisign")["pending"]
    cancelled = cli.json("drafts", "--app", "clisign", "cancel", "--role", "root")
    assert cancelled["state"] == "SUCCESS"
    assert cli.json("drafts", "--app", "clisign")["pending"] == {}
    assert json.loads((tmp_path / "cli.json").read_text())["username"] == api.username
    status = cli.json("status", "--app", "clisign")
    assert status["roles"]["root"]["version"] == 2
    assert status["roles"]["timestamp"]["version"] >= 1
    assert status["pending_drafts"] == []
    assert status["settings"]["root_threshold"] == 3
