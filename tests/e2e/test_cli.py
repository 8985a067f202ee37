"""The README walkthrough, command by command, through the real `tufsync` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import PASSWORD, SIGNUP_KEY, Api, Cli, ServerProcess, ceremony, unique_name

pytestmark = pytest.mark.slow


def test_cli_walkthrough(server: ServerProcess, tmp_path: Path) -> None:
    admin = unique_name("cli")
    cli = Cli(server, tmp_path)
    tufsync = cli.json

    signup = cli.run(
        "signup", "-u", admin, "-p", PASSWORD, "--signup-key", SIGNUP_KEY, "--url", server.url
    )
    assert f"account {admin} created" in signup.stdout
    login = cli.run("login", "-u", admin, "-p", PASSWORD, "--url", server.url)
    assert "logged in" in login.stdout

    (tmp_path / "myapp.deb").write_bytes(b"release bytes")
    uploaded = tufsync(
        "upload",
        "--app",
        "myapp",
        "--version",
        "1.0",
        "--platform",
        "linux",
        "--arch",
        "x64",
        "myapp.deb",
    )
    assert uploaded["version_id"]
    keys = [tufsync("keys", "new", "--out", "root-keys") for _ in range(3)]
    cer = tufsync(
        "ceremony",
        "--app",
        "myapp",
        "--admin",
        admin,
        "--root-key",
        str(keys[0]["private_key_file"]),
        "--root-key",
        str(keys[1]["private_key_file"]),
        "--root-pub",
        f"root-keys/{keys[2]['keyid']}.pub.json",
        "--threshold",
        "2",
        "--out",
        "bootstrap.json",
    )
    assert cer["root_threshold"] == 2
    binned = tufsync(
        "ceremony",
        "--app",
        "bigapp",
        "--admin",
        admin,
        "--root-key",
        str(keys[0]["private_key_file"]),
        "--expected-artifacts",
        "100000",
        "--out",
        "bins.json",
    )
    assert binned["hash_bins"] == 1024
    bins_payload = json.loads((tmp_path / "bins.json").read_text())
    assert bins_payload["settings"]["roles"]["hash_bins"] == {"number_of_bins": 1024}
    assert tufsync("bootstrap", "bootstrap.json")["state"] == "SUCCESS"
    assert tufsync("publish", "--app", "myapp", "--version", "1.0")["state"] == "SUCCESS"

    root = json.loads((tmp_path / "bootstrap.json").read_text())["metadata"]["root"]
    (tmp_path / "root.json").write_text(json.dumps(root))
    target = f"myapp-{admin}/linux/x64/myapp-1.0.deb"
    verified = tufsync(
        "verify",
        target,
        "--root",
        "root.json",
        "--admin",
        admin,
        "--app",
        "myapp",
        "--public-url",
        server.public_url,
    )
    assert verified["verified"] == target
    assert verified["length"] == len(b"release bytes")

    trail = tufsync("audit", "--app", "myapp")
    assert [item["event"] for item in trail["items"]] == ["artifacts_published", "bootstrap"]
    assert trail["items"][1]["details"]["root_threshold"] == 2
    table = cli.run("audit", "--app", "myapp").stdout
    assert "artifacts_published" in table and "bootstrap" in table and admin in table


def test_cli_with_api_token(server: ServerProcess, tmp_path: Path) -> None:
    """A pipeline: no `tufsync login`, an API token in TUFSYNC_TOKEN uploads and publishes."""
    owner = Api(server, unique_name("pipe"))
    owner.upload_ok("pipe", "0.1", {"seed.deb": b"seed"})
    owner.bootstrap_ok(ceremony(server.key_dir, owner.username, "pipe").payload)
    app_id = next(a["ID"] for a in owner.get("/app/list").json()["apps"] if a["AppName"] == "pipe")
    created = owner.post("/token/create", json={"name": "ci", "allowed_apps": [app_id]})
    assert created.status_code == 201, created.text
    cli = Cli(server, tmp_path)
    cli.env["TUFSYNC_TOKEN"] = created.json()["token"]
    cli.env["TUFSYNC_URL"] = server.url
    (tmp_path / "pipe.deb").write_bytes(b"built by ci")
    uploaded = cli.json("upload", "--app", "pipe", "--version", "1.0", "pipe.deb")
    assert uploaded["version_id"]
    assert cli.json("publish", "--app", "pipe", "--version", "1.0")["state"] == "SUCCESS"
    signed = owner.version("pipe", uploaded["version_id"])["Artifacts"][0]
    assert (
        signed["TufSigned"] is True and signed["TufPath"] == f"pipe-{owner.username}/pipe-1.0.deb"
    )
    refused = cli.run("upload", "--app", "other", "--version", "1.0", "pipe.deb", check=False)
    assert refused.returncode != 0 and "403" in refused.stderr + refused.stdout
