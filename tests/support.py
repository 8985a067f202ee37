"""Test helpers: a real server in a subprocess, an API client, key ceremonies."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from securesystemslib.signer import CryptoSigner, Key, Signer
from tuf.api.exceptions import DownloadHTTPError
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Targets
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from tufsync.keyholder.ceremony import CeremonyInput, build_payload, create_online_key
from tufsync.names import target_patterns

SIGNUP_KEY = "test-signup-key"
PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def public_url(self) -> str:
        return f"{self.url}/public"

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def public_dir(self) -> Path:
        return self.data_dir / "public"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_tufsync(
    command: str, data_dir: Path, env: dict[str, str], log_name: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``tufsync <command>`` in the background with its output in a log file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / log_name
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tufsync", command],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )
    return process, log_path


# How long a starting server may take to answer /health: a 2-core machine at load
# average 10+ took more than 30 s.
START_SECONDS = 90.0


@contextmanager
def run_server(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    port = free_port()
    env = {
        "TUFSYNC_DATA_DIR": str(data_dir),
        "TUFSYNC_SIGNUP_KEY": SIGNUP_KEY,
        "TUFSYNC_PORT": str(port),
        "TUFSYNC_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    process, log_path = start_tufsync("serve", data_dir, env, "server.log")
    server = ServerProcess(f"http://127.0.0.1:{port}", data_dir, process, log_path)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class Api:
    """An httpx client logged in as one admin."""

    def __init__(self, server: ServerProcess, username: str) -> None:
        self.server = server
        self.username = username
        self.http = httpx.Client(base_url=server.url, timeout=60)
        self.http.headers["Authorization"] = f"Bearer {self._login()}"

    def _login(self) -> str:
        response = self.http.post(
            "/signup",
            json={"username": self.username, "password": PASSWORD, "api_key": SIGNUP_KEY},
        )
        assert response.status_code == 200, response.text
        response = self.http.post("/login", json={"username": self.username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)

    def upload(
        self,
        app: str,
        version: str,
        files: dict[str, bytes],
        **fields: Any,
    ) -> httpx.Response:
        data = {"app_name": app, "version": version, **fields}
        return self.http.post(
            "/upload",
            data={"data": json.dumps(data)},
            files=[("file", (name, content)) for name, content in files.items()],
        )

    def upload_ok(self, app: str, version: str, files: dict[str, bytes], **fields: Any) -> str:
        response = self.upload(app, version, files, **fields)
        assert response.status_code == 200, response.text
        return str(response.json()["uploadResult.Uploaded"])

    def wait_task(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get("/tuf/v1/task", params={"task_id": task_id})
            assert response.status_code == 200, response.text
            data: dict[str, Any] = response.json()["data"]
            if data["state"] in ("SUCCESS", "FAILURE"):
                return data
            assert time.monotonic() < deadline, f"task {task_id} still {data['state']}"
            time.sleep(0.05)

    def bootstrap_ok(self, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.post("/tuf/v1/bootstrap", json=payload)
        assert response.status_code == 202, response.text
        task = self.wait_task(response.json()["data"]["task_id"])
        assert task["state"] == "SUCCESS", task
        return task

    def publish_ok(self, version_id: str, version: str) -> dict[str, Any]:
        response = self.post(
            "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": version}
        )
        assert response.status_code == 202, response.text
        task = self.wait_task(response.json()["data"]["task_id"])
        assert task["state"] == "SUCCESS", task
        return task

    def version(self, app: str, version_id: str) -> dict[str, Any]:
        found = self.get("/search", params={"app_name": app, "limit": 1000}).json()["items"]
        return next(v for v in found if v["ID"] == version_id)


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class Ceremony:
    payload: dict[str, Any]
    root_signers: list[Signer]
    online_keyid: str

    @property
    def root_bytes(self) -> bytes:
        from tuf.api.metadata import Metadata

        return Metadata.from_dict(
            json.loads(json.dumps(self.payload["metadata"]["root"]))
        ).to_bytes()


def ceremony(
    key_dir: Path,
    admin: str,
    app: str,
    *,
    root_keys: int = 1,
    threshold: int = 1,
    expirations: dict[str, int] | None = None,
    hash_bins: int | None = None,
    online_key: Key | None = None,
) -> Ceremony:
    """A bootstrap payload; its online key is written into ``key_dir``, or is
    ``online_key`` (e.g. one the server made with POST /tuf/v1/keys/online)."""
    signers: list[Signer] = [CryptoSigner.generate_ed25519() for _ in range(root_keys)]
    online = online_key if online_key is not None else create_online_key(key_dir, admin, app)
    spec = CeremonyInput(
        app=app, admin=admin, root_signers=signers, root_threshold=threshold, hash_bins=hash_bins
    )
    if expirations:
        spec.expirations.update(expirations)
    return Ceremony(build_payload(spec, online), signers, online.keyid)


def resign(root_dict: dict[str, Any], signers: list[Signer]) -> dict[str, Any]:
    """Re-sign a (possibly invalid) metadata dict over its canonical ``signed`` bytes."""
    from securesystemslib.formats import encode_canonical

    payload = encode_canonical(root_dict["signed"]).encode()
    signatures = [signer.sign(payload).to_dict() for signer in signers]
    return {"signed": root_dict["signed"], "signatures": signatures}


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class LocalFetcher(FetcherInterface):
    """Lets ngclient read the local object store directory instead of HTTP."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = self.root / url.removeprefix("local://")
        if not path.is_file():
            raise DownloadHTTPError(f"{url} not found", 404)
        yield path.read_bytes()


def client_updater(
    public: Path, admin: str, app: str, root: bytes, workdir: Path, ref_time: datetime | None = None
) -> Updater:
    """An ngclient Updater over the local public directory."""
    meta = workdir / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    bootstrap = None if (meta / "root.json").exists() else root
    return Updater(
        metadata_dir=str(meta),
        metadata_base_url=f"local://tuf_metadata/{admin}/{app}/",
        target_base_url="local://",
        target_dir=str(workdir),
        fetcher=LocalFetcher(public),
        config=UpdaterConfig(prefix_targets_with_hash=False),
        bootstrap=bootstrap,
    )


@dataclass
class OfflineTargets:
    payload: dict[str, Any]
    ceremony: Ceremony
    targets_signer: Signer

    @property
    def root_bytes(self) -> bytes:
        """The root v1 actually bootstrapped (its targets key is the offline one)."""
        return Metadata.from_dict(copy.deepcopy(self.payload["metadata"]["root"])).to_bytes()


def offline_targets(api: Api, app: str, paths: list[str] | None = None) -> OfflineTargets:
    """A bootstrap whose targets key is offline and delegates to an online role."""
    cer = ceremony(api.server.key_dir, api.username, app)
    offline = CryptoSigner.generate_ed25519()
    payload = copy.deepcopy(cer.payload)
    root = Metadata.from_dict(copy.deepcopy(payload["metadata"]["root"]))
    root.signed.revoke_key(cer.online_keyid, "targets")
    root.signed.add_key(offline.public_key, "targets")
    root.signatures.clear()
    for signer in cer.root_signers:
        root.sign(signer, append=True)
    online_key = root.signed.keys[cer.online_keyid]
    targets = Metadata(
        Targets(
            version=1,
            expires=root.signed.expires,
            delegations=Delegations(
                keys={cer.online_keyid: online_key},
                roles={
                    "releases": DelegatedRole(
                        "releases",
                        [cer.online_keyid],
                        1,
                        True,
                        paths or target_patterns(api.username, app),
                    )
                },
            ),
        )
    )
    targets.sign(offline)
    payload["metadata"] = {"root": root.to_dict(), "targets": targets.to_dict()}
    payload["settings"]["roles"]["targets"]["online_key"] = False
    return OfflineTargets(payload, cer, offline)


class Cli:
    """Runs the real ``tufsync`` command as a subprocess with its own config file."""

    def __init__(self, server: ServerProcess, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {
            **os.environ,
            "TUFSYNC_CLI_CONFIG": str(workdir / "cli.json"),
            "TUFSYNC_DATA_DIR": str(server.data_dir),
        }

    def run(
        self, *args: str, check: bool = True, answer: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """Run ``tufsync *args``; ``answer`` is what the user types at its prompts."""
        done = subprocess.run(
            [sys.executable, "-m", "tufsync", *args],
            input=answer,
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert done.returncode == 0, done.stderr + done.stdout
        return done

    def json(self, *args: str) -> dict[str, Any]:
        return dict(json.loads(self.run(*args, "--json").stdout))


@contextmanager
def hold_state_key(server: ServerProcess, key: str, seconds: float = 60.0) -> Iterator[None]:
    """Hold a lock key in an embedded server's SQLite state store (as a stuck holder would)."""
    import sqlite3
    import time as _time

    conn = sqlite3.connect(server.data_dir / "state.db")
    with conn:
        conn.execute(
            "INSERT OR REPLACE INTO state_entries(key, value, expires_at) VALUES (?, ?, ?)",
            (key, "999999999", _time.time() + seconds),
        )
    try:
        yield
    finally:
        with conn:
            conn.execute("DELETE FROM state_entries WHERE key = ?", (key,))
        conn.close()


@dataclass
class OfflineRole:
    """A bootstrap payload whose delegated role ``default`` is signed offline by
    ``holders`` (threshold ``threshold``); with ``targets_signer``, targets too."""

    payload: dict[str, Any]
    ceremony: Ceremony
    holders: list[Signer]
    targets_signer: Signer | None
    role: str = "default"

    @property
    def root_bytes(self) -> bytes:
        return Metadata.from_dict(copy.deepcopy(self.payload["metadata"]["root"])).to_bytes()


def offline_role(
    api: Api,
    app: str,
    holders: list[Signer],
    threshold: int,
    *,
    targets_offline: bool = False,
    days: int = 30,
    key_dir: Path | None = None,
) -> OfflineRole:
    """A bootstrap payload delegating the tenant's whole layout to an offline ``default``
    role; its v1 (empty) is signed by ``holders`` and sent as ``metadata.default``. The
    online keys go to ``key_dir`` (default: the server's; a cluster's is shared)."""
    return offline_role_for(
        key_dir or api.server.key_dir,
        api.username,
        app,
        holders,
        threshold,
        targets_offline=targets_offline,
        days=days,
    )


def offline_role_for(
    key_dir: Path,
    username: str,
    app: str,
    holders: list[Signer],
    threshold: int,
    *,
    targets_offline: bool = False,
    days: int = 30,
    expirations: dict[str, int] | None = None,
    now: datetime | None = None,
) -> OfflineRole:
    """:func:`offline_role` for a server whose online keys live in ``key_dir`` (e.g. an
    in-process one), with the ceremony's ``expirations`` (days; a delegated role's
    lifetime is targets'); ``default`` v1 expires ``days`` after ``now``."""
    cer = ceremony(key_dir, username, app, expirations=expirations)
    payload = copy.deepcopy(cer.payload)
    start = now or datetime.now(UTC)
    expires = start.replace(microsecond=0) + timedelta(days=days)
    keys = {s.public_key.keyid: s.public_key for s in holders}
    default = Metadata(Targets(version=1, expires=expires))
    for signer in holders:
        default.sign(signer, append=True)
    role = {
        "name": "default",
        "keyids": sorted(keys),
        "threshold": threshold,
        "terminating": True,
        "paths": target_patterns(username, app),
    }
    raw_keys = {keyid: key.to_dict() for keyid, key in keys.items()}
    targets_signer: Signer | None = None
    if targets_offline:
        targets_signer = CryptoSigner.generate_ed25519()
        root = Metadata.from_dict(copy.deepcopy(payload["metadata"]["root"]))
        root.signed.revoke_key(cer.online_keyid, "targets")
        root.signed.add_key(targets_signer.public_key, "targets")
        root.signatures.clear()
        for signer in cer.root_signers:
            root.sign(signer, append=True)
        targets = Metadata(
            Targets(
                version=1,
                expires=root.signed.expires,
                delegations=Delegations.from_dict({"keys": raw_keys, "roles": [role]}),
            )
        )
        targets.sign(targets_signer)
        payload["metadata"] = {"root": root.to_dict(), "targets": targets.to_dict()}
        payload["settings"]["roles"]["targets"]["online_key"] = False
    else:
        payload["settings"]["roles"]["delegations"] = {"keys": raw_keys, "roles": [role]}
    payload["metadata"]["default"] = default.to_dict()
    return OfflineRole(payload, cer, holders, targets_signer)


def sign_pending(api: Api, app: str, role: str, signer: Signer) -> httpx.Response:
    """Sign the pending draft of ``role`` (as GET /tuf/v1/metadata/sign shows it) with
    ``signer`` and post the signature."""
    from securesystemslib.formats import encode_canonical

    listed = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()
    draft = listed["data"]["metadata"][role]
    signature = signer.sign(encode_canonical(draft["signed"]).encode()).to_dict()
    return api.post(
        "/tuf/v1/metadata/sign",
        params={"appName": app},
        json={"role": role, "signature": signature},
    )
