"""Two hostile tenants whose names collided under the old key scheme (docs/design.md invariant 7).

Tenant A is admin ``<p>`` with app ``doe_x``; tenant B is admin ``<p>_doe`` with app
``x``: under the old ``<PREFIX>_<admin>_<app>`` names they shared bootstrap marker,
settings, drafts, recovery marker and lock. A delegates to roles named ``repo`` and
``task`` (whose draft keys used to land in the refresh-schedule and task-record
scans) and has drafts pending for them and for root.

B calls every app-scoped TUF route on ``x`` and must see exactly what a missing app
(``w``) shows; A's published metadata, config, drafts and tasks stay unchanged; B can
then bootstrap ``x`` (it used to get 409); and the service starts again with A's
``repo`` and ``task`` drafts stored. On both backends: SQLite embedded, and Redis +
PostgreSQL + S3 with a separate worker.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Root, Targets

from tests.scaleout import REDIS_BASE, TEST_REDIS_DB, S3Endpoint, upgrade_database
from tests.support import (
    Api,
    ServerProcess,
    ceremony,
    run_server,
    start_tufsync,
    unique_name,
)
from tufsync.keyholder.ceremony import create_online_key

VICTIM_APP, ATTACKER_APP, MISSING_APP = "doe_x", "x", "w"
HOSTILE_ROLES = ("repo", "task")


@dataclass
class Deployment:
    """A running tufsync (one API process; in scale-out also one worker)."""

    kind: str
    root: Path
    env: dict[str, str]
    key_dir: Path
    server: ServerProcess | None = None
    stack: ExitStack = field(default_factory=ExitStack)

    def start(self) -> None:
        self.stack = ExitStack()
        self.server = self.stack.enter_context(run_server(self.root / "api", self.env))
        if self.kind == "scaleout":
            worker, _ = start_tufsync("worker", self.root / "worker", self.env, "worker.log")

            def stop_worker() -> None:
                worker.terminate()
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()

            self.stack.callback(stop_worker)

    def stop(self) -> None:
        self.stack.close()

    def client(self, api: Api) -> Api:
        """``api`` (same token) pointed at the current server process."""
        assert self.server is not None
        api.server = self.server
        api.http.base_url = self.server.url  # type: ignore[misc]
        return api


@contextmanager
def deployment_of(kind: str, root: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    key_dir = root / "keys"
    env = {"TUFSYNC_ONLINE_KEY_DIR": str(key_dir), "TUFSYNC_DATA_DIR": str(root / "api")}
    if kind == "scaleout":
        s3: S3Endpoint = request.getfixturevalue("s3")
        pg_url: str = request.getfixturevalue("pg_url")
        redis_url = f"{REDIS_BASE}/{TEST_REDIS_DB}"
        redis.Redis.from_url(redis_url).flushdb()
        env |= {
            "TUFSYNC_REDIS_URL": redis_url,
            "TUFSYNC_DATABASE_URL": pg_url,
            "TUFSYNC_STORAGE_URL": s3.storage_url(f"hostile-{root.name}"),
            "TUFSYNC_JWT_SECRET": "hostile-secret-0123456789abcdef0123456789",
            "TUFSYNC_LOG_LEVEL": "warning",
            **s3.env(),
        }
        upgrade_database(env)
    else:
        env["TUFSYNC_JWT_SECRET"] = "hostile-secret-0123456789abcdef0123456789"
    deployment = Deployment(kind, root, env, key_dir)
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.stop()
        if kind == "scaleout":
            redis.Redis.from_url(env["TUFSYNC_REDIS_URL"]).flushdb()


def sig_for(signer: Signer, md: dict[str, Any]) -> dict[str, str]:
    return signer.sign(encode_canonical(md["signed"]).encode()).to_dict()


@dataclass
class Victim:
    api: Api
    task_ids: list[str]
    version_id: str


def bootstrap_victim(deployment: Deployment, api: Api) -> Victim:
    """A's repository: offline targets delegating to online roles ``repo`` and ``task``,
    one artifact published, and drafts pending for root, targets and ``repo``."""
    app, admin = VICTIM_APP, api.username
    cer = ceremony(deployment.key_dir, admin, app)
    offline = CryptoSigner.generate_ed25519()
    payload = copy.deepcopy(cer.payload)
    root = Metadata[Root].from_dict(copy.deepcopy(payload["metadata"]["root"]))
    root.signed.revoke_key(cer.online_keyid, "targets")
    root.signed.add_key(offline.public_key, "targets")
    root.signatures.clear()
    for signer in cer.root_signers:
        root.sign(signer, append=True)
    online_key = root.signed.keys[cer.online_keyid]
    roles = {
        name: DelegatedRole(name, [cer.online_keyid], 1, False, [f"{app}-{admin}/{name}/*"])
        for name in HOSTILE_ROLES
    }
    targets = Metadata(
        Targets(
            version=1,
            expires=root.signed.expires,
            delegations=Delegations(keys={cer.online_keyid: online_key}, roles=roles),
        )
    )
    targets.sign(offline)
    payload["metadata"] = {"root": root.to_dict(), "targets": targets.to_dict()}
    payload["settings"]["roles"]["targets"]["online_key"] = False
    task_ids = [api.bootstrap_ok(payload)["task_id"]]

    version_id = api.upload_ok(app, "1.0", {"a.deb": b"victim build"}, channel="repo")
    task_ids.append(api.publish_ok(version_id, "1.0")["task_id"])

    # A root rotation awaiting a second signature.
    new_root = Metadata[Root].from_dict(copy.deepcopy(root.to_dict()))
    new_root.signed.version = 2
    new_root.signatures.clear()
    new_root.signed.add_key(CryptoSigner.generate_ed25519().public_key, "root")
    new_root.signed.roles["root"].threshold = 2
    response = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": new_root.to_dict()}}
    )
    assert response.status_code == 200, response.text
    task_ids.append(api.wait_task(response.json()["data"]["task_id"])["task_id"])

    # A delegated rotation of ``task`` to a new online key: drafts of targets and ``task``.
    new_key = create_online_key(deployment.key_dir, admin, app)
    current = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    draft = copy.deepcopy(current["trusted_targets"])
    draft["signatures"] = []
    draft["signed"]["version"] += 1
    draft["signed"]["delegations"]["keys"][new_key.keyid] = new_key.to_dict()
    for entry in draft["signed"]["delegations"]["roles"]:
        if entry["name"] == "task":
            entry["keyids"] = [new_key.keyid]
    response = api.post(
        "/tuf/v1/metadata/delegated/rotate",
        params={"appName": app},
        json={"role": "task", "metadata": {"targets": draft}},
    )
    assert response.status_code == 200, response.text
    task_ids.append(api.wait_task(response.json()["data"]["task_id"])["task_id"])
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]["metadata"]
    assert {"root", "targets", "task"} <= set(pending), sorted(pending)
    return Victim(api, task_ids, version_id)


def victim_view(api: Api) -> dict[str, Any]:
    """Everything A (or A's clients) can observe of A's repository."""
    app = VICTIM_APP
    view: dict[str, Any] = {}
    for path, params in (
        ("/tuf/v1/bootstrap", {}),
        ("/tuf/v1/config", {}),
        ("/tuf/v1/metadata/sign", {}),
        ("/tuf/v1/metadata/root", {}),
        ("/tuf/v1/metadata/targets", {}),
        ("/tuf/v1/metadata/delegated", {"roleName": "repo"}),
        ("/tuf/v1/metadata/delegated", {"roleName": "task"}),
    ):
        response = api.get(path, params={"appName": app, **params})
        view[f"{path}?{params}"] = (response.status_code, response.json())
    public = f"/public/tuf_metadata/{api.username}/{app}/timestamp.json"
    view[public] = api.get(public).content
    return view


def task_views(api: Api, task_ids: list[str]) -> list[Any]:
    return [api.get("/tuf/v1/task", params={"task_id": t}).json() for t in task_ids]


# Every app-scoped TUF route, as B would call it on an app name. The body may use
# A's task and version ids and role names: B knows or guesses them.
Call = Callable[[Api, str, Victim], httpx.Response]


def _q(app: str, **extra: str) -> dict[str, str]:
    return {"appName": app, **extra}


ROUTES: dict[str, Call] = {
    "GET bootstrap": lambda b, app, v: b.get("/tuf/v1/bootstrap", params=_q(app)),
    "POST recovery": lambda b, app, v: b.post("/tuf/v1/bootstrap/recovery", json={"appName": app}),
    "GET config": lambda b, app, v: b.get("/tuf/v1/config", params=_q(app)),
    "PUT config": lambda b, app, v: b.http.put(
        "/tuf/v1/config",
        params=_q(app),
        json={"settings": {"expiration": {"timestamp": 3650, "snapshot": 3650}}},
    ),
    "POST metadata (root rotation)": lambda b, app, v: b.post(
        "/tuf/v1/metadata", params=_q(app), json={"metadata": {"root": {"signed": {}}}}
    ),
    "GET sign": lambda b, app, v: b.get("/tuf/v1/metadata/sign", params=_q(app)),
    "POST sign": lambda b, app, v: b.post(
        "/tuf/v1/metadata/sign",
        params=_q(app),
        json={"role": "root", "signature": {"keyid": "00" * 32, "sig": "00"}},
    ),
    "POST sign/delete root": lambda b, app, v: b.post(
        "/tuf/v1/metadata/sign/delete", params=_q(app), json={"role": "root"}
    ),
    "POST sign/delete task": lambda b, app, v: b.post(
        "/tuf/v1/metadata/sign/delete", params=_q(app), json={"role": "task"}
    ),
    "POST delegated/rotate": lambda b, app, v: b.post(
        "/tuf/v1/metadata/delegated/rotate",
        params=_q(app),
        json={"role": "repo", "metadata": {}},
    ),
    "POST online": lambda b, app, v: b.post(
        "/tuf/v1/metadata/online", params=_q(app), json={"roles": ["timestamp"]}
    ),
    "GET root": lambda b, app, v: b.get("/tuf/v1/metadata/root", params=_q(app)),
    "GET targets": lambda b, app, v: b.get("/tuf/v1/metadata/targets", params=_q(app)),
    "GET delegated": lambda b, app, v: b.get(
        "/tuf/v1/metadata/delegated", params=_q(app, roleName="repo")
    ),
}


def normalized(response: httpx.Response, app: str) -> tuple[int, str]:
    """Status and body with the app name written as ``APP`` (the names differ by design)."""
    text = json.dumps(response.json(), sort_keys=True)
    for quoted in (f"'{app}'", f'"{app}"', f" {app} ", f" {app}."):
        text = text.replace(quoted, quoted.replace(app, "APP"))
    return response.status_code, text


@pytest.fixture(params=["sqlite", "scaleout"], scope="module")
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with deployment_of(request.param, root, request) as running:
        yield running


def signup(deployment: Deployment, username: str) -> Api:
    assert deployment.server is not None
    return Api(deployment.server, username)


def test_hostile_tenant_with_colliding_names(deployment: Deployment) -> None:
    base = unique_name("h")
    victim = bootstrap_victim(deployment, signup(deployment, base))
    attacker = signup(deployment, f"{base}_doe")
    before = victim_view(victim.api)
    tasks_before = task_views(victim.api, victim.task_ids)

    for name, call in ROUTES.items():
        on_colliding = call(attacker, ATTACKER_APP, victim)
        on_missing = call(attacker, MISSING_APP, victim)
        assert on_colliding.status_code < 500, (name, on_colliding.text)
        assert normalized(on_colliding, ATTACKER_APP) == normalized(on_missing, MISSING_APP), name
        assert victim_view(victim.api) == before, f"{name} changed the victim's repository"
    # A's artifacts are missing versions to B.
    publish = attacker.post(
        "/tuf/v1/artifacts/publish", json={"app_id": victim.version_id, "version": "1.0"}
    )
    delete = attacker.post(
        "/tuf/v1/artifacts/delete",
        json={
            "id": victim.version_id,
            "app_name": VICTIM_APP,
            "version": "1.0",
            "artifacts_to_delete": ["0"],
        },
    )
    for response in (publish, delete):
        assert response.status_code == 404, response.text
    assert victim_view(victim.api) == before
    for task_id in victim.task_ids:  # A's tasks are missing tasks to B
        response = attacker.get("/tuf/v1/task", params={"task_id": task_id})
        assert response.status_code == 404, response.text

    # B's own bootstrap of ``x`` is not taken for A's (it used to answer 409).
    cer = ceremony(deployment.key_dir, attacker.username, ATTACKER_APP)
    attacker.bootstrap_ok(cer.payload)
    config = attacker.get("/tuf/v1/config", params={"appName": ATTACKER_APP}).json()["data"]
    assert config["targets_online_key"] == 1
    assert victim_view(victim.api) == before
    assert task_views(victim.api, victim.task_ids) == tasks_before

    # The service starts again with A's ``repo`` and ``task`` drafts stored, and
    # nothing of A changed across the restart.
    deployment.stop()
    deployment.start()
    deployment.client(victim.api)
    deployment.client(attacker)
    assert victim_view(victim.api) == before
    assert task_views(victim.api, victim.task_ids) == tasks_before
    # B's repository works (the refresh of every repository goes on).
    forced = attacker.post("/tuf/v1/metadata/online", params={"appName": ATTACKER_APP}, json={})
    assert forced.status_code == 200, forced.text
    assert attacker.wait_task(forced.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert victim_view(victim.api) == before
