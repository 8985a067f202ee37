"""``tufsync keys new`` and ``tufsync ceremony``: offline key holder work."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from securesystemslib.signer import Key

from tufsync import tenant_keys
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
        out: Path = typer.Option(Path("bootstrap.json"), "--out", help="Payload file to write."),
        root_days: int = typer.Option(DEFAULT_EXPIRATIONS["root"], "--root-expiration"),
        targets_days: int = typer.Option(DEFAULT_EXPIRATIONS["targets"], "--targets-expiration"),
        snapshot_days: int = typer.Option(DEFAULT_EXPIRATIONS["snapshot"], "--snapshot-expiration"),
        timestamp_days: int = typer.Option(
            DEFAULT_EXPIRATIONS["timestamp"], "--timestamp-expiration"
        ),
        hash_bins: int = typer.Option(
            None, "--hash-bins", help="Delegate to this many hash bins (a power of two)."
        ),
        expected: int = typer.Option(
            None,
            "--expected-artifacts",
            help="Use hash bins sized for this many artifacts (recommended bin count).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Build a bootstrap payload: root v1 signed offline, online key in the server's key dir."""
        try:
            check_app_name(app_name, "--app")
            check_username(admin)
        except InvalidName as exc:
            fail(str(exc))
        if not root_key and not hsm:
            fail("give the root keys that sign now: --root-key (repeatable) and/or --hsm")
        signers = signers_for(root_key, hsm, hsm_keyid, token_label)
        for signer in signers:  # a token refusing its PIN stops us before any key is made
            try:
                signer.sign(b"tufsync ceremony: can this key sign?")
            except Exception as exc:
                fail(str(explain(exc)))
        folder = key_dir or Settings().resolved_online_key_dir
        online: Key
        if online_uri:
            try:
                online = online_key_from_uri(online_uri)
            except HardwareKeyError as exc:
                fail(str(exc))
        else:
            online = create_online_key(folder, admin, app_name)
        spec = CeremonyInput(
            app=app_name,
            admin=admin,
            root_signers=list(signers),
            root_threshold=threshold,
            extra_root_keys=[load_public(p) for p in root_pub],
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
                "online_key_file": None
                if online_uri
                else str(
                    tenant_keys.key_folder(folder, tenant_keys.TenantRef(admin, app_name))
                    / f"{online.keyid}.pem"
                ),
                "online_key_uri": online_uri,
            },
            as_json,
        )
