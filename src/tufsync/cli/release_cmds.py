"""``tufsync release``: one command for a developer who holds a role's key.

Upload, publish, sign the drafts the publish task staged for the roles the
server cannot sign (``details.awaiting_signatures``, docs/api.md "Publish into
offline roles") with the developer's key, and wait until a client sees each
artifact: through python-tuf's ngclient from a trusted root (``--root``), else
by polling the role's published metadata (GET /tuf/v1/metadata/targets or
/delegated). Into online roles a release is upload, publish and wait.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from securesystemslib.signer import Signer

from tufsync.cli.client_cmds import (
    check,
    client,
    find_version_id,
    load_config,
    upload_files,
    wait_for_task,
)
from tufsync.cli.hsm_opts import HSM_HELP, HSM_KEYID, KEY_HELP, TOKEN_LABEL, signers_for
from tufsync.cli.output import emit, fail
from tufsync.cli.signing_cmds import pending_drafts, post_signature, show_diff, who_must_sign
from tufsync.keyholder.draft_diff import DraftDiff

EXIT_AWAITING = 2
"""Exit code of a release published into a draft that still needs other holders."""


def _other_changes(diff: DraftDiff, paths: set[str]) -> bool:
    """The draft carries changes besides adding this release's paths (an earlier
    publish joined it, or a removal or delegation change waits in it)."""
    return bool(
        {t.path for t in diff.targets_added} - paths
        or diff.targets_removed
        or diff.targets_changed
        or diff.delegations_added
        or diff.delegations_removed
        or diff.delegations_changed
    )


def _sign_staged(
    http: httpx.Client,
    app_name: str,
    awaiting: dict[str, int],
    paths: set[str],
    signer: Signer | None,
    yes: bool,
    as_json: bool,
    timeout: float,
) -> tuple[list[str], dict[str, str]]:
    """Sign each awaiting role's draft the key may sign; the roles signed, and for each
    role still pending afterwards who must sign it."""
    diffs, metadata = pending_drafts(http, app_name)
    signed: list[str] = []
    notes: dict[str, str] = {}
    for role in sorted(awaiting):
        diff = diffs.get(role)
        if diff is None:
            continue  # published meanwhile (its keys came online, or others signed it)
        if not as_json:
            show_diff(diff)
        if signer is None:
            notes[role] = "no key was given (--key or --hsm)"
            continue
        if not diff.needs(signer.public_key.keyid):
            notes[role] = f"your key {signer.public_key.keyid} is not one that still signs it"
            continue
        if _other_changes(diff, paths) and not yes:
            if as_json:
                fail(
                    f"the {role} draft carries other changes too: review them with "
                    "`tufsync drafts`, then release with --yes"
                )
            if not typer.confirm(f"The {role} draft carries other changes too. Sign it?"):
                raise typer.Exit(1)
        progress, result = post_signature(http, app_name, role, signer, metadata[role])
        signed.append(role)
        task_id = (result.get("data") or {}).get("task_id")
        if progress is None and task_id:
            task = wait_for_task(http, str(task_id), timeout, as_json)
            if task["state"] != "SUCCESS":
                fail(f"publishing the signed {role} draft failed: {task.get('result')}")
    still, _ = pending_drafts(http, app_name)
    waiting = {
        role: "; ".join(filter(None, [who_must_sign(still[role]), notes.get(role)]))
        for role in sorted(awaiting)
        if role in still
    }
    return signed, waiting


def _listed(http: httpx.Client, app_name: str, role: str) -> dict[str, Any]:
    """The targets of ``role``'s published metadata (what clients are served)."""
    if role == "targets":
        body = check(http.get("/tuf/v1/metadata/targets", params={"appName": app_name}))
        md = (body.get("data") or {}).get("trusted_targets") or {}
    else:
        params = {"appName": app_name, "roleName": role}
        body = check(http.get("/tuf/v1/metadata/delegated", params=params))
        md = (body.get("data") or {}).get("trusted_delegated") or {}
    targets = (md.get("signed") or {}).get("targets") or {}
    return dict(targets)


def _admin(http: httpx.Client) -> str:
    saved = load_config().get("username")
    return saved or str(check(http.get("/whoami"))["username"])


def _wait_visible(
    http: httpx.Client,
    app_name: str,
    artifacts: dict[str, str],
    root: Path | None,
    public_url: str,
    timeout: float,
) -> dict[str, str]:
    """Wait until each artifact is served to clients; its sha256 as a client got it
    (ngclient from ``root``) or as the role's published metadata lists it."""
    from tuf.api.exceptions import DownloadError, RepositoryError

    from tufsync.keyholder.verify import TargetNotFound, verify_download

    admin = _admin(http) if root is not None else ""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    for path, role in sorted(artifacts.items()):
        last = "not listed yet"
        while path not in seen:
            if root is not None:
                with tempfile.TemporaryDirectory(prefix="tufsync-release-") as tmp:
                    try:
                        got = verify_download(
                            public_url, admin, app_name, root, path, Path(tmp) / "dl",
                            Path(tmp) / "meta",
                        )  # fmt: skip
                        seen[path] = got.sha256
                    except (TargetNotFound, RepositoryError, DownloadError) as exc:
                        last = f"{type(exc).__name__}: {exc}"
            else:
                info = _listed(http, app_name, role).get(path)
                if info is not None:
                    seen[path] = str((info.get("hashes") or {}).get("sha256"))
            if path not in seen:
                if time.monotonic() > deadline:
                    fail(f"{path} is not visible to clients after {timeout:g} s ({last})")
                time.sleep(0.3)
    return seen


def register(app: typer.Typer) -> None:
    @app.command()
    def release(
        app_name: str = typer.Option(..., "--app"),
        version: str = typer.Option(..., "--version"),
        files: list[Path] = typer.Option(
            [], "--file", help="Artifact to upload (repeatable); none: the version uploaded."
        ),
        channel: str = typer.Option("", "--channel"),
        platform: str = typer.Option("", "--platform"),
        arch: str = typer.Option("", "--arch"),
        key: str = typer.Option(None, "--key", help=f"Your role key: {KEY_HELP}"),
        hsm: bool = typer.Option(False, "--hsm", help=HSM_HELP),
        hsm_keyid: int = HSM_KEYID,
        token_label: str = TOKEN_LABEL,
        root: Path = typer.Option(
            None,
            "--root",
            help="Trusted root file: check through python-tuf's ngclient that clients get "
            "each artifact (else poll the role's published metadata).",
        ),
        public_url: str = typer.Option(
            None, "--public-url", help="Where clients read the repository (default: <URL>/public)."
        ),
        yes: bool = typer.Option(False, "--yes", help="Sign drafts with other changes too."),
        timeout: float = typer.Option(120, "--timeout", help="Seconds to wait for each step."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Upload, publish, sign the staged drafts with your key, and wait until clients see
        the release. Exits 2 when a draft still needs other key holders' signatures."""
        if key is not None and hsm:
            fail("sign with one key: --key FILE-OR-URI or --hsm")
        signer = signers_for([key] if key else [], hsm, hsm_keyid, token_label)
        with client() as http:
            if files:
                fields = {"channel": channel, "platform": platform, "arch": arch}
                version_id = upload_files(http, files, app_name, version, fields)
            else:
                version_id = find_version_id(http, app_name, version, channel)
            body = check(
                http.post(
                    "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": version}
                )
            )
            task = wait_for_task(http, str(body["data"]["task_id"]), timeout, as_json)
            if task["state"] != "SUCCESS":
                emit(task, as_json)
                raise typer.Exit(1)
            details = (task.get("result") or {}).get("details") or {}
            artifacts: dict[str, str] = dict(details.get("artifacts") or {})
            awaiting: dict[str, int] = dict(details.get("awaiting_signatures") or {})
            signed, waiting = _sign_staged(
                http, app_name, awaiting, set(artifacts), signer[0] if signer else None,
                yes, as_json, timeout,
            )  # fmt: skip
            result: dict[str, Any] = {
                "version_id": version_id,
                "artifacts": artifacts,
                "awaiting_signatures": awaiting,
                "signed_roles": signed,
            }
            if waiting:
                emit({**result, "released": False, "waiting_for": waiting}, as_json)
                raise typer.Exit(EXIT_AWAITING)
            url = public_url or f"{str(http.base_url).rstrip('/')}/public"
            seen = _wait_visible(http, app_name, artifacts, root, url, timeout)
        emit(
            {**result, "released": True, "visible": seen, "verified_from_root": root is not None},
            as_json,
        )
