"""``tufsync keys new``, ``tufsync keys online`` and ``tufsync ceremony``: key holder work.

``keys online new|list|delete`` ask the server (with the saved token) to make,
list or delete the online keys it keeps for an app (POST/GET/DELETE
/tuf/v1/keys/online); only public keys ever come back. ``ceremony`` asks the
server for the online key too when ``--server-keys`` is given, or when the
saved server is not on this machine (it cannot write into that server's key dir).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import typer
from securesystemslib.signer import Key, SSlibKey

from tufsync import tenant_keys
from tufsync.cli.client_cmds import DEFAULT_URL, check, client, load_config
from tufsync.cli.hsm_opts import HSM_HELP, HSM_KEYID, KEY_HELP, TOKEN_LABEL, pin_source, signers_for
from tufsync.cli.output import emit, fail
from tufsync.keyholder.ceremony import (
    DEFAULT_EXPIRATIONS,
    CeremonyInput,
    build_payload,
    create_online_key,
)
from tufsync.keyholder.hardware import (
    HardwareKeyError,
    explain,
    import_hsm,
    online_key_from_uri,
)
from tufsync.keyholder.keyfiles import KEY_TYPES, load_public, new_key_file
from tufsync.names import InvalidName, check_app_name, check_username
from tufsync.settings import Settings
from tufsync.tuf.bootstrap import recommended_bins

keys_app = typer.Typer(help="Create and inspect signing keys.", no_args_is_help=True)
online_app = typer.Typer(
    help="Online keys the server makes and keeps for an app (private keys never leave it).",
    no_args_is_help=True,
)
keys_app.add_typer(online_app, name="online")
SERVER_KEY_TYPES = ("ed25519", "ecdsa-sha2-nistp256", "rsassa-pss-sha256")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def server_online_key(http: httpx.Client, app_name: str, key_type: str = "ed25519") -> SSlibKey:
    """Ask the server for a new online key of ``app_name``; its public key."""
    body = check(
        http.post("/tuf/v1/keys/online", params={"appName": app_name}, json={"keytype": key_type})
    )
    data = body["data"]
    return SSlibKey.from_dict(str(data["keyid"]), dict(data["key"]))


def remote_server_url() -> str | None:
    """The saved server's URL when the CLI is logged in to a server not on this machine."""
    cfg = load_config()
    if not (os.environ.get("TUFSYNC_TOKEN") or cfg.get("token")):
        return None
    url = os.environ.get("TUFSYNC_URL") or cfg.get("url", DEFAULT_URL)
    host = urlsplit(url).hostname or ""
    return None if host in LOCAL_HOSTS or host.startswith("127.") else url


@online_app.command("new")
def online_new(
    app_name: str = typer.Option(..., "--app", help="App name of the repository."),
    key_type: str = typer.Option(
        "ed25519", "--type", help=f"One of {', '.join(SERVER_KEY_TYPES)}."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Have the server make a new online key for an app; print its keyid and public key."""
    if key_type not in SERVER_KEY_TYPES:
        fail(f"unknown key type {key_type!r}; choose one of {', '.join(SERVER_KEY_TYPES)}")
    with client() as http:
        key = server_online_key(http, app_name, key_type)
    emit({"keyid": key.keyid, "public_key": key.to_dict()}, as_json)


@online_app.command("list")
def online_list(
    app_name: str = typer.Option(..., "--app", help="App name of the repository."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the online keys the server made for an app and the roles using each."""
    with client() as http:
        body = check(http.get("/tuf/v1/keys/online", params={"appName": app_name}))
    keys = body["data"]["keys"]
    if as_json:
        emit({"keys": keys}, True)
        return
    if not keys:
        typer.echo(f"no online keys made by the server for {app_name}")
    for entry in keys:
        roles = ", ".join(entry["roles"]) or "unused"
        typer.echo(f"{entry['keyid']}  {entry['key']['scheme']}  {entry['created']}  {roles}")


@online_app.command("delete")
def online_delete(
    app_name: str = typer.Option(..., "--app", help="App name of the repository."),
    keyid: str = typer.Argument(..., help="The key to delete (no published role may use it)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete an online key the server made that no published role uses."""
    with client() as http:
        body = check(
            http.delete("/tuf/v1/keys/online", params={"appName": app_name, "keyid": keyid})
        )
    emit({"deleted": body["data"]["keyid"]}, as_json)


@keys_app.command("new")
def keys_new(
    out: Path = typer.Option(..., "--out", help="Folder for the private key file."),
    key_type: str = typer.Option("ed25519", "--type", help=f"One of {', '.join(KEY_TYPES)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a private key file <keyid>.pem and print its keyid and public key."""
    if key_type not in KEY_TYPES:
        fail(f"unknown key type {key_type!r}; choose one of {', '.join(KEY_TYPES)}")
    path, public = new_key_file(key_type, out)
    emit(
        {"keyid": public.keyid, "private_key_file": str(path), "public_key": public.to_dict()},
        as_json,
    )


@keys_app.command("import-hsm")
def keys_import_hsm(
    hsm_keyid: int = HSM_KEYID,
    token_label: str = TOKEN_LABEL,
    out: Path = typer.Option(
        None, "--out", help="Folder for <keyid>.pub.json (for another holder's --root-pub)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the public key of a PKCS#11 token's key (YubiKey, HSM) for the ceremony."""
    try:
        key = import_hsm(hsm_keyid, token_label, pin_source())
    except HardwareKeyError as exc:
        fail(str(exc))
    found: dict[str, object] = {
        "keyid": key.public.keyid,
        "signer_uri": key.uri,
        "public_key": key.public.to_dict(),
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{key.public.keyid}.pub.json"
        path.write_text(json.dumps(key.public.to_dict(), indent=2))
        found["public_key_file"] = str(path)
    emit(found, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")

    @app.command()
    def ceremony(
        app_name: str = typer.Option(..., "--app", help="App name of the repository."),
        admin: str = typer.Option(..., "--admin", help="The admin (username) that owns it."),
        root_key: list[str] = typer.Option(
            [], "--root-key", help=f"Root key of a holder present: {KEY_HELP} Repeatable."
        ),
        hsm: bool = typer.Option(False, "--hsm", help=f"{HSM_HELP} It signs root too."),
        hsm_keyid: int = HSM_KEYID,
        token_label: str = TOKEN_LABEL,
        root_pub: list[Path] = typer.Option(
            [],
            "--root-pub",
            help="Public key file (<keyid>.pub.json) of a root holder not signing now.",
        ),
        threshold: int = typer.Option(1, "--threshold", help="Root signature threshold."),
        key_dir: Path = typer.Option(
            None, "--online-key-dir", help="The server's online key dir (default: its setting)."
        ),
        online_uri: str = typer.Option(
            None,
            "--online-key-uri",
            help="Keep the online key in a key service instead (awskms:<key id>, "
            "gcpkms:<key version>); the server must allow the URI.",
        ),
        server_keys: bool = typer.Option(
            False,
            "--server-keys",
            help="Have the server make the online key (POST /tuf/v1/keys/online, with the "
            "saved login); the default when the saved server is not on this machine.",
        ),
        out: Path = typer.Option(Path("bootstrap.json"), "--out", help="Payload file to write."),
        root_days: int = typer.Option(DEFAULT_EXPIRATIONS["root"], "--root-expiration"),
        targets_days: int = typer.Option(DEFAULT_EXPIRATIONS["targets"], "--targets-expiration"),
        snapshot_days: int = typer.Option(DEFAULT_EXPIRATIONS["snapshot"], "--snapshot-expiration"),
        timestamp_days: int = typer.Option(
            DEFAULT_EXPIRATIONS["timestamp"], "--timestamp-expiration"
        ),
        hash_bins: int = typer.Option(None, "--hash-bins", help="Hash bins (a power of two)."),
        expected: int = typer.Option(
            None,
            "--expected-artifacts",
            help="Use hash bins sized for this many artifacts (recommended bin count).",
        ),
        role_key: list[str] = typer.Option(
            [],
            "--role-key",
            help=f"Makes the default delegated role offline: key of one of its holders, who "
            f"signs its version 1 now: {KEY_HELP} Repeatable.",
        ),
        role_pub: list[Path] = typer.Option(
            [], "--role-pub", help="Public key file of a default-role holder not signing now."
        ),
        role_threshold: int = typer.Option(
            1, "--role-threshold", help="Signatures a release into the offline role needs."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Build a bootstrap payload: root v1 signed offline, online key in the server's key dir
        (with --role-key, the default delegated role is signed by its holders instead)."""
        try:
            check_app_name(app_name, "--app")
            check_username(admin)
        except InvalidName as exc:
            fail(str(exc))
        if not root_key and not hsm:
            fail("give the root keys that sign now: --root-key (repeatable) and/or --hsm")
        signers = signers_for(root_key, hsm, hsm_keyid, token_label)
        role_signers = signers_for(role_key, False, hsm_keyid, None)
        for signer in signers + role_signers:  # a refused PIN stops us before a key is made
            try:
                signer.sign(b"tufsync ceremony: can this key sign?")
            except Exception as exc:
                fail(str(explain(exc)))
        if server_keys and (online_uri or key_dir is not None):
            fail(
                "--server-keys is a third place for the online key: leave out "
                "--online-key-uri and --online-key-dir"
            )
        remote = None if (online_uri or key_dir is not None) else remote_server_url()
        made_by: str | None = None
        folder = key_dir or Settings().resolved_online_key_dir
        online: Key
        if online_uri:
            try:
                online = online_key_from_uri(online_uri)
            except HardwareKeyError as exc:
                fail(str(exc))
        elif server_keys or remote:
            saved_admin = load_config().get("username")
            if saved_admin and saved_admin != admin:
                fail(
                    f"logged in as {saved_admin}, but --admin is {admin}: the server makes "
                    "keys only for the admin logged in"
                )
            with client() as http:
                online = server_online_key(http, app_name)
                made_by = str(http.base_url)
        else:
            online = create_online_key(folder, admin, app_name)
        spec = CeremonyInput(
            app=app_name,
            admin=admin,
            root_signers=list(signers),
            root_threshold=threshold,
            extra_root_keys=[load_public(p) for p in root_pub],
            role_signers=role_signers,
            extra_role_keys=[load_public(p) for p in role_pub],
            role_threshold=role_threshold,
            hash_bins=hash_bins or (recommended_bins(expected) if expected else None),
            expirations={
                "root": root_days,
                "targets": targets_days,
                "snapshot": snapshot_days,
                "timestamp": timestamp_days,
            },
        )
        try:
            payload = build_payload(spec, online)
        except ValueError as exc:
            fail(str(exc))
        except Exception as exc:  # a token or key service failing to sign
            fail(str(explain(exc)))
        out.write_text(json.dumps(payload, indent=2))
        emit(
            {
                "payload": str(out),
                "root_keyids": [s.public_key.keyid for s in signers],
                "root_threshold": threshold,
                "online_keyid": online.keyid,
                "hash_bins": spec.hash_bins,
                "offline_role_keyids": sorted(
                    [s.public_key.keyid for s in role_signers]
                    + [k.keyid for k in spec.extra_role_keys]
                ),
                "online_key_file": None
                if online_uri or made_by
                else str(
                    tenant_keys.key_folder(folder, tenant_keys.TenantRef(admin, app_name))
                    / f"{online.keyid}.pem"
                ),
                "online_key_uri": online_uri,
                "online_key_made_by_server": made_by,
            },
            as_json,
        )
        if made_by and not as_json:
            typer.echo(
                f"the online key was made by the server at {made_by} (POST /tuf/v1/keys/online"
                f"{'' if server_keys else ', as that server is not on this machine'}); "
                "no private key was written here"
            )
