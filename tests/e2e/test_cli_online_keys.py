"""``tufsync keys online``, ``ceremony --server-keys`` and ``rotate-root --rotate-online-key``
with keys the server makes (README "Online keys made by the server"), and the whole
self-service journey of a fresh admin whose CLI is not next to the server, in the
embedded mode and in scale-out, verified by python-tuf's ngclient and by tuf-js."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from tuf.api.metadata import Metadata, Root, Timestamp

from tests.e2e.test_scale_out import Cluster, cluster  # noqa: F401  (fixture)
from tests.e2e.test_tufjs_client import tufjs
from tests.support import PASSWORD, SIGNUP_KEY, Api, Cli, ServerProcess, unique_name
from tufsync.cli.keys_cmds import remote_server_url
from tufsync.keyholder.verify import verify_download

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


def remote_cli(server: ServerProcess, workdir: Path) -> Cli:
    """The CLI on an admin's machine: its own (empty) data dir, no signup key in the env."""
    workdir.mkdir(parents=True, exist_ok=True)
    cli = Cli(server, workdir)
    cli.env["TUFSYNC_DATA_DIR"] = str(workdir / "client-data")
    for name in ("TUFSYNC_SIGNUP_KEY", "TUFSYNC_TOKEN", "TUFSYNC_URL", "TUFSYNC_ONLINE_KEY_DIR"):
        cli.env.pop(name, None)
    return cli


def as_reader(server: ServerProcess, username: str) -> Api:
    """What ``tufjs`` needs of an :class:`Api`: the server's public files and the admin."""
    reader = Api.__new__(Api)
    reader.server, reader.username = server, username
    return reader


def both_clients_download(
    server: ServerProcess, admin: str, app: str, trusted: Path, path: str, home: Path
) -> tuple[int, bytes]:
    """ngclient and tuf-js, each keeping its trusted state in ``home`` between calls,
    refresh and download ``path``; the root version both trust and the bytes."""
    ng = verify_download(
        server.public_url, admin, app, trusted, path, home / "ng-dl", metadata_dir=home / "ng"
    )
    ng_root = Metadata[Root].from_file(str(home / "ng" / "root.json")).signed.version
    js = home / "js"
    if not js.exists():
        (js / "meta").mkdir(parents=True)
        (js / "targets").mkdir()
        (js / "meta" / "root.json").write_bytes(trusted.read_bytes())
    answer = tufjs(as_reader(server, admin), app, js, [path])
    [result] = answer["results"]
    assert result["ok"], result
    assert Path(result["file"]).read_bytes() == ng.local_file.read_bytes()
    assert answer["root_version"] == ng_root, answer
    return ng_root, ng.local_file.read_bytes()


def self_service_journey(server: ServerProcess, workdir: Path) -> None:
    cli = remote_cli(server, workdir)
    admin, app = unique_name("self"), "selfserve"
    url = ["--url", server.url]
    cli.run("signup", "-u", admin, "-p", PASSWORD, "--signup-key", SIGNUP_KEY, *url)
    cli.run("login", "-u", admin, "-p", PASSWORD, *url)
    spare = cli.json("keys", "online", "new", "--app", app)
    holders = [cli.json("keys", "new", "--out", "root-keys") for _ in range(2)]
    private = [str(h["private_key_file"]) for h in holders]
    made = cli.run(
        "ceremony",
        "--app",
        app,
        "--admin",
        admin,
        *[arg for key in private for arg in ("--root-key", key)],
        "--threshold",
        "2",
        "--server-keys",
        "--out",
        "bootstrap.json",
    )
    assert "made by the server" in made.stdout
    payload = json.loads((workdir / "bootstrap.json").read_text())
    online = payload["metadata"]["root"]["signed"]["roles"]["timestamp"]["keyids"]
    listed = {k["keyid"] for k in cli.json("keys", "online", "list", "--app", app)["keys"]}
    assert set(online) <= listed and spare["keyid"] in listed
    assert cli.json("bootstrap", "bootstrap.json")["state"] == "SUCCESS"
    # No private online key on the admin's machine: only the two root keys.
    assert sorted(p.name for p in workdir.rglob("*.pem")) == sorted(Path(k).name for k in private)

    (workdir / f"{app}.deb").write_bytes(b"release 1.0")
    cli.run(
        "upload",
        "--app",
        app,
        "--version",
        "1.0",
        "--platform",
        "linux",
        "--arch",
        "x64",
        f"{app}.deb",
    )
    cli.run("publish", "--app", app, "--version", "1.0")
    trusted = workdir / "trusted-root.json"
    first = httpx.get(f"{server.public_url}/tuf_metadata/{admin}/{app}/1.root.json")
    assert first.status_code == 200, first.text
    trusted.write_bytes(first.content)
    home = workdir / "clients"
    one = f"{app}-{admin}/linux/x64/{app}-1.0.deb"
    assert both_clients_download(server, admin, app, trusted, one, home) == (1, b"release 1.0")

    # The root key holders rotate timestamp/snapshot to a new key the server makes.
    rotated = cli.json(
        "rotate-root",
        "--app",
        app,
        "--rotate-online-key",
        *[arg for key in private for arg in ("--sign-with", key)],
    )
    assert rotated["state"] == "SUCCESS", rotated
    (workdir / f"{app}.deb").write_bytes(b"release 2.0")
    cli.run(
        "upload",
        "--app",
        app,
        "--version",
        "2.0",
        "--platform",
        "linux",
        "--arch",
        "x64",
        f"{app}.deb",
    )
    cli.run("publish", "--app", app, "--version", "2.0")
    root = (
        Metadata[Root]
        .from_bytes(
            httpx.get(f"{server.public_url}/tuf_metadata/{admin}/{app}/2.root.json").content
        )
        .signed
    )
    new_online = root.roles["timestamp"].keyids
    assert new_online != online and root.roles["snapshot"].keyids == new_online
    timestamp = Metadata[Timestamp].from_bytes(
        httpx.get(f"{server.public_url}/tuf_metadata/{admin}/{app}/timestamp.json").content
    )
    assert set(timestamp.signatures) == set(new_online)
    listed_now = {k["keyid"]: k for k in cli.json("keys", "online", "list", "--app", app)["keys"]}
    assert "timestamp" in listed_now[new_online[0]]["roles"]
    two = f"{app}-{admin}/linux/x64/{app}-2.0.deb"
    assert both_clients_download(server, admin, app, trusted, two, home) == (2, b"release 2.0")
    assert both_clients_download(server, admin, app, trusted, one, home) == (2, b"release 1.0")


def test_self_service_online_keys_embedded(server: ServerProcess, tmp_path: Path) -> None:
    self_service_journey(server, tmp_path)


def test_self_service_online_keys_scale_out(
    cluster: Cluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    self_service_journey(cluster.apis[1], tmp_path / "admin")
