"""Commands that talk to a tufsync server with a saved token."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tufsync.cli.output import emit, err_console, fail

DEFAULT_URL = "http://127.0.0.1:9000"


def config_path() -> Path:
    """``$TUFSYNC_CLI_CONFIG``, else ``$XDG_CONFIG_HOME/tufsync/cli.json`` (the XDG base
    directory rule: an unset, empty or relative value means ``~/.config``)."""
    env = os.environ.get("TUFSYNC_CLI_CONFIG")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "tufsync" / "cli.json"


def local_signup_key() -> str | None:
    """The signup key of a server whose data dir is on this machine (``secrets.json``)."""
    from tufsync.settings import Settings

    path = Settings().resolved_data_dir / "secrets.json"
    try:
        value = json.loads(path.read_text()).get("signup_key")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) else None


def load_config() -> dict[str, str]:
    path = config_path()
    return json.loads(path.read_text()) if path.exists() else {}


def save_config(data: dict[str, str]) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)


def client() -> httpx.Client:
    """A client with the token of ``TUFSYNC_TOKEN`` (e.g. an ``fns_`` API token in CI)
    or else of ``tufsync login``; ``TUFSYNC_URL`` overrides the saved server URL."""
    cfg = load_config()
    token = os.environ.get("TUFSYNC_TOKEN") or cfg.get("token")
    if not token:
        fail("not logged in: run `tufsync login` first, or set TUFSYNC_TOKEN")
    return httpx.Client(
        base_url=os.environ.get("TUFSYNC_URL") or cfg.get("url", DEFAULT_URL),
        headers={"Authorization": f"Bearer {token}"},
        timeout=300,
    )


def check(response: httpx.Response) -> dict[str, Any]:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"error": response.text}
    if response.status_code >= 400:
        message = body.get("error", "request failed")
        if body.get("message") and body["message"] != message:
            message += f" ({body['message']})"
        fail(f"{response.status_code}: {message}")
    return body


def wait_for_task(http: httpx.Client, task_id: str, timeout: float, quiet: bool) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
        transient=True,
    ) as progress:
        bar = progress.add_task(f"task {task_id}", total=None)
        while True:
            data = check(http.get("/tuf/v1/task", params={"task_id": task_id}))["data"]
            progress.update(bar, description=f"task {task_id}: {data['state']}")
            if data["state"] in ("SUCCESS", "FAILURE"):
                return dict(data)
            if time.monotonic() > deadline:
                fail(f"task {task_id} did not finish within {timeout:g} s")
            time.sleep(0.2)


def finish(http: httpx.Client, body: dict[str, Any], wait: bool, as_json: bool) -> None:
    data = body.get("data") or {}
    task_id = data.get("task_id")
    if wait and task_id:
        task = wait_for_task(http, task_id, 600, as_json)
        emit(task, as_json)
        if task["state"] != "SUCCESS":
            raise typer.Exit(1)
        return
    emit(body, as_json)


def upload_files(
    http: httpx.Client, files: list[Path], app_name: str, version: str, fields: dict[str, str]
) -> str:
    """POST /upload the artifacts of one version; the id of the version row."""
    data = {"app_name": app_name, "version": version, **fields}
    handles = [path.open("rb") for path in files]
    try:
        body = check(
            http.post(
                "/upload",
                data={"data": json.dumps(data)},
                files=[("file", (p.name, h)) for p, h in zip(files, handles, strict=True)],
            )
        )
    finally:
        for handle in handles:
            handle.close()
    return str(body["uploadResult.Uploaded"])


def find_version_id(http: httpx.Client, app_name: str, version: str, channel: str) -> str:
    """The id of an uploaded version of ``app_name`` in ``channel`` (GET /search)."""
    found = check(http.get("/search", params={"app_name": app_name, "limit": 1000}))
    matches = [v for v in found["items"] if v["Version"] == version and v["Channel"] == channel]
    if not matches:
        fail(f"no version {version!r} of {app_name!r} in channel {channel!r}")
    return str(matches[0]["ID"])


def register(app: typer.Typer) -> None:
    @app.command()
    def login(
        username: str = typer.Option(..., "--username", "-u"),
        password: str = typer.Option(..., "--password", "-p", prompt=True, hide_input=True),
        url: str = typer.Option(DEFAULT_URL, "--url", help="Server base URL."),
    ) -> None:
        """Log in and save the token for the other commands."""
        response = httpx.post(
            f"{url.rstrip('/')}/login", json={"username": username, "password": password}
        )
        token = check(response)["token"]
        save_config({"url": url.rstrip("/"), "token": token, "username": username})
        typer.echo(f"logged in to {url} as {username}")

    @app.command()
    def signup(
        username: str = typer.Option(..., "--username", "-u"),
        password: str = typer.Option(
            ..., "--password", "-p", prompt=True, hide_input=True, confirmation_prompt=True
        ),
        signup_key: str = typer.Option(
            None,
            "--signup-key",
            envvar="TUFSYNC_SIGNUP_KEY",
            help="The server's signup key (default: read from the local data dir's secrets.json).",
        ),
        url: str = typer.Option(DEFAULT_URL, "--url", help="Server base URL."),
    ) -> None:
        """Create an admin account with the server's signup key."""
        key = signup_key or local_signup_key()
        if not key:
            fail(
                "no signup key: pass --signup-key (it is printed when `tufsync serve` first "
                "starts, and kept in <data dir>/secrets.json)"
            )
        response = httpx.post(
            f"{url.rstrip('/')}/signup",
            json={"username": username, "password": password, "api_key": key},
        )
        check(response)
        typer.echo(f"account {username} created on {url}; now run `tufsync login -u {username}`")

    @app.command()
    def bootstrap(
        payload: Path = typer.Argument(..., help="Payload written by `tufsync ceremony`."),
        wait: bool = typer.Option(True, "--wait/--no-wait"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Send a bootstrap payload."""
        with client() as http:
            body = check(http.post("/tuf/v1/bootstrap", json=json.loads(payload.read_text())))
            finish(http, body, wait, as_json)

    @app.command()
    def upload(
        files: list[Path] = typer.Argument(..., help="Artifact files."),
        app_name: str = typer.Option(..., "--app"),
        version: str = typer.Option(..., "--version"),
        channel: str = typer.Option("", "--channel"),
        platform: str = typer.Option("", "--platform"),
        arch: str = typer.Option("", "--arch"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Upload artifacts of one version."""
        fields = {"channel": channel, "platform": platform, "arch": arch}
        with client() as http:
            version_id = upload_files(http, files, app_name, version, fields)
        emit({"version_id": version_id}, as_json)

    @app.command()
    def publish(
        app_name: str = typer.Option(..., "--app"),
        version: str = typer.Option(..., "--version"),
        channel: str = typer.Option("", "--channel", help="Empty: the version without channel."),
        wait: bool = typer.Option(True, "--wait/--no-wait"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Sign every unsigned artifact of a version into TUF."""
        with client() as http:
            version_id = find_version_id(http, app_name, version, channel)
            body = check(
                http.post(
                    "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": version}
                )
            )
            finish(http, body, wait, as_json)

    @app.command()
    def task(
        task_id: str = typer.Argument(...),
        wait: bool = typer.Option(False, "--wait"),
        timeout: float = typer.Option(600, "--timeout"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Show a task; with --wait, until it finishes."""
        with client() as http:
            if wait:
                data = wait_for_task(http, task_id, timeout, as_json)
            else:
                data = check(http.get("/tuf/v1/task", params={"task_id": task_id}))["data"]
        emit(data, as_json)
        if wait and data["state"] != "SUCCESS":
            raise typer.Exit(1)

    @app.command()
    def verify(
        target: str = typer.Argument(
            ..., help="Target path, e.g. app-admin/default/linux/x64/app-1.0.deb"
        ),
        root: Path = typer.Option(
            ..., "--root", help="Trusted root metadata file (e.g. 1.root.json)."
        ),
        admin: str = typer.Option(..., "--admin"),
        app_name: str = typer.Option(..., "--app"),
        public_url: str = typer.Option(f"{DEFAULT_URL}/public", "--public-url"),
        dest: Path = typer.Option(Path("downloads"), "--dest"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Download one artifact through python-tuf's ngclient and print what was verified."""
        from tufsync.keyholder.verify import TargetNotFound, verify_download

        try:
            result = verify_download(public_url, admin, app_name, root, target, dest)
        except TargetNotFound as exc:
            fail(str(exc))
        except Exception as exc:
            fail(f"verification failed: {type(exc).__name__}: {exc}")
        emit(
            {
                "verified": result.path,
                "file": str(result.local_file),
                "length": result.length,
                "sha256": result.sha256,
            },
            as_json,
        )
