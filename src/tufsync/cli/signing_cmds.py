"""Key holders' signing commands: rotate-root, sign, drafts, drafts cancel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.markup import escape
from securesystemslib.signer import Signer

from tufsync.cli.client_cmds import check, client, finish, load_config
from tufsync.cli.hsm_opts import HSM_HELP, HSM_KEYID, KEY_HELP, TOKEN_LABEL, signers_for
from tufsync.cli.keys_cmds import server_online_key
from tufsync.cli.output import console, emit, fail
from tufsync.keyholder.ceremony import create_online_key
from tufsync.keyholder.draft_diff import DraftDiff, diff_draft
from tufsync.keyholder.hardware import explain
from tufsync.keyholder.keyfiles import load_public
from tufsync.keyholder.rootedit import next_root_version, signature_over

drafts_app = typer.Typer(help="Drafts awaiting signatures.", invoke_without_command=True)


def _trusted_signed(http: httpx.Client, app_name: str, role: str) -> dict[str, Any] | None:
    """The ``signed`` part of the trusted root or targets (GET /tuf/v1/metadata/<role>)."""
    body = check(http.get(f"/tuf/v1/metadata/{role}", params={"appName": app_name}))
    found = (body.get("data") or {}).get(f"trusted_{role}") or {}
    signed = found.get("signed")
    return signed if isinstance(signed, dict) else None


def pending_drafts(
    http: httpx.Client, app_name: str
) -> tuple[dict[str, DraftDiff], dict[str, Any]]:
    """Each pending draft's diff against its trusted version, and the drafts as listed by
    GET /tuf/v1/metadata/sign (docs/api.md, "Pending drafts")."""
    body = check(http.get("/tuf/v1/metadata/sign", params={"appName": app_name}))
    metadata: dict[str, Any] = (body.get("data") or {}).get("metadata") or {}
    message = str(body.get("message") or "")
    trusted: dict[str, dict[str, Any] | None] = {}

    def delegator(role: str) -> dict[str, Any] | None:
        if role == "root":
            return None  # root's own two thresholds (TUF specification §5.3.4)
        if role != "targets" and "targets" in metadata:
            signed = metadata["targets"].get("signed")  # published together with it
            return signed if isinstance(signed, dict) else None
        name = "root" if role == "targets" else "targets"
        if name not in trusted:
            trusted[name] = _trusted_signed(http, app_name, name)
        return trusted[name]

    diffs = {
        role: diff_draft(role, md, metadata.get(f"trusted_{role}"), delegator(role), message)
        for role, md in sorted(metadata.items())
        if not role.startswith("trusted_")
    }
    return diffs, metadata


def show_diff(diff: DraftDiff) -> None:
    """Print a draft's diff; names come from tenants, so nothing is read as markup."""
    console.print(
        f"[bold]{escape(diff.role)}[/bold] draft against the trusted version:", soft_wrap=True
    )
    for line in diff.lines():
        console.print(f"  {escape(line)}", soft_wrap=True)


def who_must_sign(diff: DraftDiff) -> str:
    sides = [s for s in diff.signing if not s.complete]
    if not sides:
        return f"the {diff.role} draft has the signatures it needs"
    return "; ".join(
        f"the {diff.role} draft{' (' + s.side + ')' if s.side else ''} needs "
        f"{s.threshold - len(s.signed)} more signature(s) from the keys {s.missing}"
        for s in sides
    )


def post_signature(
    http: httpx.Client, app_name: str, role: str, signer: Signer, draft: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """Sign ``draft`` and post the signature: the progress sentence while the threshold is
    not met (the server answers 400 "Progress: ..."), else the accepted task's answer."""
    try:
        signature = signature_over(signer, draft)
    except Exception as exc:  # a token or key service failing to sign
        fail(str(explain(exc)))
    response = http.post(
        "/tuf/v1/metadata/sign",
        params={"appName": app_name},
        json={"role": role, "signature": signature},
    )
    if response.status_code == 400 and "Progress:" in response.text:
        return str(response.json()["error"]), {}
    return None, check(response)


@drafts_app.callback()
def drafts(
    ctx: typer.Context,
    app_name: str = typer.Option(..., "--app"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the drafts of an app that await signatures, with what each changes."""
    ctx.obj = {"app": app_name, "json": as_json}
    if ctx.invoked_subcommand is not None:
        return
    with client() as http:
        diffs, _ = pending_drafts(http, app_name)
    if as_json:
        emit({"pending": {role: d.to_json() for role, d in diffs.items()}}, True)
        return
    if not diffs:
        typer.echo(f"no drafts await signatures for {app_name}")
    for diff in diffs.values():
        show_diff(diff)


@drafts_app.command("cancel")
def drafts_cancel(
    ctx: typer.Context,
    role: str = typer.Option(..., "--role"),
    wait: bool = typer.Option(True, "--wait/--no-wait"),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Cancel the signing process of a role (the trusted metadata stays as it is)."""
    app_name, as_json = ctx.obj["app"], ctx.obj["json"] or json_output
    with client() as http:
        body = check(
            http.post(
                "/tuf/v1/metadata/sign/delete", params={"appName": app_name}, json={"role": role}
            )
        )
        finish(http, body, wait, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(drafts_app, name="drafts")

    @app.command()
    def sign(
        app_name: str = typer.Option(..., "--app"),
        role: str = typer.Option("root", "--role"),
        key: str = typer.Option(None, "--key", help=f"Your key: {KEY_HELP}"),
        hsm: bool = typer.Option(False, "--hsm", help=HSM_HELP),
        hsm_keyid: int = HSM_KEYID,
        token_label: str = TOKEN_LABEL,
        yes: bool = typer.Option(False, "--yes", help="Sign without asking."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Fetch the draft of a role, show what changes, sign it and post the signature."""
        if (key is None) == (not hsm):
            fail("sign with exactly one key: --key FILE-OR-URI or --hsm")
        signer = signers_for([key] if key else [], hsm, hsm_keyid, token_label)[0]
        with client() as http:
            diffs, metadata = pending_drafts(http, app_name)
            diff = diffs.get(role)
            if diff is None:
                fail(f"no draft of {role!r} awaits signatures for {app_name!r}")
            keyid = signer.public_key.keyid
            allowed = {k for side in diff.signing for k in side.keyids}
            if allowed and keyid not in allowed:
                fail(
                    f"your key {keyid} is not one of the keys that sign {role!r}: "
                    f"{who_must_sign(diff)}"
                )
            if not as_json:
                show_diff(diff)
            if not yes and not as_json and not typer.confirm("Sign it?"):
                raise typer.Exit(1)
            progress, result = post_signature(http, app_name, role, signer, metadata[role])
            if progress is not None:
                emit({"signed": True, "complete": False, "progress": progress}, as_json)
                return
            finish(http, result, True, as_json)

    @app.command("rotate-root")
    def rotate_root(
        app_name: str = typer.Option(..., "--app"),
        add_key: list[Path] = typer.Option([], "--add-key", help="Public key file to add to root."),
        remove_key: list[str] = typer.Option([], "--remove-key", help="Keyid to remove from root."),
        threshold: int = typer.Option(None, "--threshold", help="New root threshold."),
        rotate_online: bool = typer.Option(
            False, "--rotate-online-key", help="New online key for timestamp, snapshot, targets."
        ),
        key_dir: Path = typer.Option(
            None,
            "--online-key-dir",
            help="Write the new online key into this key dir instead of having the server make it.",
        ),
        expires_days: int = typer.Option(None, "--expires-days"),
        sign_with: list[str] = typer.Option(
            [], "--sign-with", help=f"Root key to sign with now: {KEY_HELP}"
        ),
        out: Path = typer.Option(None, "--out", help="Write the draft instead of posting it."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Start a root rotation from the trusted root."""
        with client() as http:
            trusted = check(http.get("/tuf/v1/metadata/root", params={"appName": app_name}))
            new_online = None
            if rotate_online and key_dir is not None:
                admin = load_config().get("username") or ""
                if not admin:
                    fail("log in again so the CLI knows your username")
                new_online = create_online_key(key_dir, admin, app_name)
            elif rotate_online:
                # The server makes the new online key (POST /tuf/v1/keys/online).
                new_online = server_online_key(http, app_name)
            md = next_root_version(
                trusted["data"]["trusted_root"],
                add_root_keys=[load_public(p) for p in add_key],
                remove_root_keys=list(remove_key),
                threshold=threshold,
                new_online_key=new_online,
                expires_days=expires_days,
            )
            for signer in signers_for(sign_with, False, 0, None):
                try:
                    md.sign(signer, append=True)
                except Exception as exc:
                    fail(str(explain(exc)))
            draft = md.to_dict()
            if out is not None:
                out.write_text(json.dumps(draft, indent=2))
                emit({"draft": str(out), "version": md.signed.version}, as_json)
                return
            body = check(
                http.post(
                    "/tuf/v1/metadata",
                    params={"appName": app_name},
                    json={"metadata": {"root": draft}},
                )
            )
            finish(http, body, True, as_json)
