"""``tufsync keys online``, ``ceremony --server-keys`` and ``rotate-root --rotate-online-key``
with keys the server makes (README "Online keys made by the server")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import PASSWORD, Api, Cli
from tufsync.cli.keys_cmds import remote_server_url

pytestmark = pytest.mark.slow


def test_online_keys_through_the_cli(api: Api, tmp_path: Path) -> None:
    cli = Cli(api.server, tmp_path)
    cli.run("login", "-u", api.username, "-p", PASSWORD, "--url", api.server.url)
    app = "srvkeys"
    spare = cli.json("keys", "online", "new", "--app", app, "--type", "ecdsa-sha2-nistp256")
    assert spare["public_key"]["scheme"] == "ecdsa-sha2-nistp256"
    assert "private" not in json.dumps(spare).lower()

    root_key = cli.json("keys", "new", "--out", "root-keys")
    made = cli.run(
        "ceremony",
        "--app",
        app,
        "--admin",
        api.username,
        "--root-key",
        str(root_key["private_key_file"]),
        "--server-keys",
        "--out",
        "bootstrap.json",
    )
    assert "made by the server" in made.stdout
    payload = json.loads((tmp_path / "bootstrap.json").read_text())
    online = payload["metadata"]["root"]["signed"]["roles"]["timestamp"]["keyids"][0]
    assert "online_key_file: None" in made.stdout  # no private key written here
    listed = {k["keyid"]: k for k in cli.json("keys", "online", "list", "--app", app)["keys"]}
    assert set(listed) == {spare["keyid"], online}
    assert cli.json("bootstrap", "bootstrap.json")["state"] == "SUCCESS"
    listed = {k["keyid"]: k for k in cli.json("keys", "online", "list", "--app", app)["keys"]}
    assert "timestamp" in listed[online]["roles"]

    in_use = cli.run("keys", "online", "delete", "--app", app, online, check=False)
    assert in_use.returncode != 0 and "409" in in_use.stderr
    assert cli.json("keys", "online", "delete", "--app", app, spare["keyid"]) == {
        "deleted": spare["keyid"]
    }

    rotated = cli.json(
        "rotate-root",
        "--app",
        app,
        "--rotate-online-key",
        "--sign-with",
        str(root_key["private_key_file"]),
    )
    assert rotated["state"] == "SUCCESS"
    trusted = api.get("/tuf/v1/metadata/root", params={"appName": app}).json()["data"]
    new_online = trusted["trusted_root"]["signed"]["roles"]["timestamp"]["keyids"]
    assert new_online != [online]
    listed = {k["keyid"]: k for k in cli.json("keys", "online", "list", "--app", app)["keys"]}
    assert "timestamp" in listed[new_online[0]]["roles"]
    # Root no longer names the old key, but the delegated role "default" still does.
    assert listed[online]["roles"] == ["default"]
    still_used = cli.run("keys", "online", "delete", "--app", app, online, check=False)
    assert still_used.returncode != 0 and "default" in still_used.stderr


def test_ceremony_asks_a_server_that_is_not_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cli.json"
    monkeypatch.setenv("TUFSYNC_CLI_CONFIG", str(config))
    monkeypatch.delenv("TUFSYNC_TOKEN", raising=False)
    monkeypatch.delenv("TUFSYNC_URL", raising=False)
    assert remote_server_url() is None  # not logged in: the key goes into a local folder
    config.write_text(json.dumps({"token": "t", "url": "http://127.0.0.1:9000"}))
    assert remote_server_url() is None
    config.write_text(json.dumps({"token": "t", "url": "https://tuf.example.com"}))
    assert remote_server_url() == "https://tuf.example.com"
    monkeypatch.setenv("TUFSYNC_URL", "http://localhost:9000")
    assert remote_server_url() is None
