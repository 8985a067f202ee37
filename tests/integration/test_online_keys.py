"""Online keys made by the server (README "Online keys made by the server").

``POST|GET|DELETE /tuf/v1/keys/online`` over HTTP against a real server: keys
are made in the tenant's folder (0600 files in 0700 folders, loadable as the
server loads online keys), listed with the published roles using them,
deleted only when unused; another tenant (or another spelling of the app
name) never sees, uses or deletes them; the number of unused keys is
bounded; old unused keys are removed by the periodic pass with an audit
event; and no answer, log line, task record or audit row carries private
material.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from securesystemslib.signer import SSlibKey
from tuf.api.metadata import Metadata, Root

from tests.support import (
    Api,
    FakeClock,
    ServerProcess,
    ceremony,
    client_updater,
    run_server,
    unique_name,
)
from tufsync import tenant_keys
from tufsync.db import audit
from tufsync.db.models import User
from tufsync.operations import online_keys
from tufsync.operations.online_keys import Caller, CreateKeyRequest, OnlineKeyRefused
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.tasks.submit import submit_task
from tufsync.tuf.keys import OnlineKeyStore

ROUTE = "/tuf/v1/keys/online"
UNUSED_MAX = 3


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a small bound on unused keys, logging everything (debug)."""
    env = {
        "TUFSYNC_UNUSED_ONLINE_KEYS_MAX": str(UNUSED_MAX),
        "TUFSYNC_LOG_LEVEL": "debug",
        "TUFSYNC_LOGIN_LIMIT_PER_CLIENT": "100000/minute",
    }
    with run_server(tmp_path_factory.mktemp("online-keys"), env) as proc:
        yield proc


def make_key(api: Api, app: str, keytype: str | None = None) -> dict[str, Any]:
    body = {} if keytype is None else {"keytype": keytype}
    response = api.post(ROUTE, params={"appName": app}, json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    assert answer["message"] == "Online key created"
    return answer


def listed(api: Api, app: str) -> list[dict[str, Any]]:
    response = api.get(ROUTE, params={"appName": app})
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()["data"]["keys"]
    return keys


def delete(api: Api, app: str, keyid: str) -> Any:
    return api.http.delete(ROUTE, params={"appName": app, "keyid": keyid})


def audit_rows(api: Api, app: str) -> list[dict[str, Any]]:
    response = api.get("/tuf/v1/audit", params={"appName": app, "limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]["items"]
    return items


def public_key(answer: dict[str, Any]) -> SSlibKey:
    return SSlibKey.from_dict(answer["data"]["keyid"], dict(answer["data"]["key"]))


@pytest.mark.parametrize(
    ("keytype", "expected"),
    [
        (None, ("ed25519", "ed25519")),
        ("ecdsa-sha2-nistp256", ("ecdsa", "ecdsa-sha2-nistp256")),
        ("rsassa-pss-sha256", ("rsa", "rsassa-pss-sha256")),
    ],
)
def test_create_list_delete(
    api: Api, server: ServerProcess, keytype: str | None, expected: tuple[str, str]
) -> None:
    app = unique_name("keys")
    answer = make_key(api, app, keytype)
    key = public_key(answer)
    assert (key.keytype, key.scheme) == expected
    assert set(answer["data"]["key"]) == {"keytype", "scheme", "keyval"}
    assert set(answer["data"]["key"]["keyval"]) == {"public"}

    folder = tenant_keys.key_folder(server.key_dir, tenant_keys.TenantRef(api.username, app))
    private = folder / f"{key.keyid}.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    # Exactly the file the server loads online keys from, holding this key.
    signer = OnlineKeyStore(server.key_dir).load_signer(api.username, app, key)
    assert signer is not None and signer.public_key.keyid == key.keyid

    [entry] = listed(api, app)
    assert entry["keyid"] == key.keyid
    assert entry["key"] == answer["data"]["key"]
    assert entry["roles"] == []
    assert entry["created"]

    deleted = delete(api, app, key.keyid)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"] == {"keyid": key.keyid}
    assert not private.exists()
    assert listed(api, app) == []
    again = delete(api, app, key.keyid)
    assert again.status_code == 404
    assert again.json()["error"] and again.json()["message"]

    events = [(r["event"], r["details"], r["actor"]) for r in audit_rows(api, app)]
    assert events == [
        ("online_key_deleted", {"keyid": key.keyid}, api.username),
        ("online_key_created", {"keyid": key.keyid}, api.username),
    ]


def test_bad_requests_have_error_and_message(api: Api) -> None:
    app = unique_name("bad")
    for body in ({"keytype": "dsa"}, {"keytype": 3}, {"other": 1}, [1]):
        response = api.post(ROUTE, params={"appName": app}, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] and response.json()["message"]
    assert api.post(ROUTE, params={"appName": "../x"}, json={}).status_code == 400
    assert api.http.delete(ROUTE, params={"appName": app}).status_code == 400
    for keyid in ("../../etc/passwd", "A" * 64, "0" * 64, "x" * 5000):
        response = delete(api, app, keyid)
        assert response.status_code == 404, response.text
        assert response.json()["error"] and response.json()["message"]
    assert listed(api, app) == []


def test_other_tenants_cannot_list_use_or_delete(make_api: Any, server: ServerProcess) -> None:
    owner, other = make_api(), make_api()
    app = unique_name("Shared")
    key = public_key(make_key(owner, app))
    for caller, name in (
        (other, app),
        (other, app.lower()),
        (owner, app.lower()),
        (owner, app.upper()),
    ):
        assert listed(caller, name) == []
        refused = delete(caller, name, key.keyid)
        assert refused.status_code == 404, refused.text
    # Another tenant's bootstrap naming the key: not available to it.
    for caller, name in ((other, app), (owner, app.lower())):
        payload = ceremony(server.key_dir, caller.username, name, online_key=key).payload
        response = caller.post("/tuf/v1/bootstrap", json=payload)
        assert response.status_code == 400, response.text
        assert "not available to the server" in response.json()["error"]
    assert [k["keyid"] for k in listed(owner, app)] == [key.keyid]


def test_bootstrap_publish_verify_with_a_server_key(
    own_server: ServerProcess, tmp_path: Path
) -> None:
    api = Api(own_server, unique_name("boot"))
    app = unique_name("app")
    answers: list[str] = []
    made = make_key(api, app)
    answers.append(json.dumps(made))
    key = public_key(made)
    version_id = api.upload_ok(app, "1.0", {"app.deb": b"release one"})
    cer = ceremony(own_server.key_dir, api.username, app, online_key=key)
    task = api.bootstrap_ok(cer.payload)
    published = api.publish_ok(version_id, "1.0")

    target = f"{app}-{api.username}/{app}-1.0.deb"
    updater = client_updater(
        own_server.public_dir, api.username, app, cer.root_bytes, tmp_path / "client"
    )
    updater.refresh()
    info = updater.get_targetinfo(target)
    assert info is not None
    downloaded = updater.download_target(info, filepath=str(tmp_path / "app.deb"))
    assert Path(downloaded).read_bytes() == b"release one"

    [entry] = listed(api, app)
    answers.append(json.dumps(entry))
    assert {"timestamp", "snapshot", "targets"} <= set(entry["roles"])
    refused = delete(api, app, key.keyid)
    answers.append(refused.text)
    assert refused.status_code == 409, refused.text
    assert "timestamp" in refused.json()["error"] and refused.json()["message"]
    private = tenant_keys.key_folder(
        own_server.key_dir, tenant_keys.TenantRef(api.username, app)
    ) / (key.keyid + ".pem")
    assert private.exists()

    # No private material anywhere the server answers, logs or records.
    pem = private.read_text()
    secret_lines = [line for line in pem.splitlines() if line and "PRIVATE KEY" not in line]
    assert secret_lines
    records = [
        api.get("/tuf/v1/task", params={"task_id": t["task_id"]}).text for t in (task, published)
    ]
    places = {
        "answers": "\n".join(answers),
        "log": own_server.log(),
        "tasks": "\n".join(records) + json.dumps([task, published]),
        "audit": json.dumps(audit_rows(api, app)),
        "listing": api.get(ROUTE, params={"appName": app}).text,
    }
    assert "online_key_created" in places["audit"]
    for where, text in places.items():
        for line in secret_lines:
            assert line not in text, f"private key material in {where}"


def test_unused_keys_are_bounded(own_server: ServerProcess) -> None:
    api = Api(own_server, unique_name("bound"))
    app = unique_name("app")
    keys = [public_key(make_key(api, app)) for _ in range(UNUSED_MAX)]
    refused = api.post(ROUTE, params={"appName": app}, json={})
    assert refused.status_code == 409, refused.text
    assert f"at most {UNUSED_MAX}" in refused.json()["error"] and refused.json()["message"]
    # Another app of the same admin has its own bound.
    make_key(api, unique_name("other"))
    # A key used by the published metadata no longer counts.
    api.bootstrap_ok(ceremony(own_server.key_dir, api.username, app, online_key=keys[0]).payload)
    make_key(api, app)
    assert api.post(ROUTE, params={"appName": app}, json={}).status_code == 409
    # Deleting an unused key makes room again.
    assert delete(api, app, keys[1].keyid).status_code == 200
    make_key(api, app)
    assert len(listed(api, app)) == UNUSED_MAX + 1


def _rotate_to_a_deleted_key(
    api: Api, server: ServerProcess, prefix: str, roles: tuple[str, ...]
) -> tuple[str, str, httpx.Response]:
    """Bootstrap an app, then post a root v2 whose ``roles`` use a server-made key that
    was deleted again: (app, the missing keyid, the answer)."""
    app = unique_name(prefix)
    cer = ceremony(server.key_dir, api.username, app)
    api.bootstrap_ok(cer.payload)
    trusted = api.get("/tuf/v1/metadata/root", params={"appName": app}).json()["data"]
    root = Metadata[Root].from_dict(trusted["trusted_root"])
    made = public_key(make_key(api, app))
    for role in roles:
        for keyid in list(root.signed.roles[role].keyids):
            root.signed.revoke_key(keyid, role)
    missing = SSlibKey.from_dict(made.keyid, made.to_dict())
    assert delete(api, app, made.keyid).status_code == 200
    for role in roles:
        root.signed.add_key(missing, role)
    root.signed.version += 1
    root.signatures.clear()
    for signer in cer.root_signers:
        root.sign(signer, append=True)
    response = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": root.to_dict()}}
    )
    return app, missing.keyid, response


def test_rotation_refused_for_a_missing_key_names_folder_and_route(
    api: Api, server: ServerProcess
) -> None:
    """A root whose online key is not in the folder: the error says where it must be
    and how to get one the server makes."""
    app, missing, response = _rotate_to_a_deleted_key(
        api, server, "rot", ("timestamp", "snapshot", "targets")
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert missing in error
    assert f"{api.username}/{app}/" in error
    assert f"POST /tuf/v1/keys/online?appName={app}" in error


# -- removal of old unused keys, in simulated time ------------------------------------
@pytest.fixture
async def services(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    settings = Settings(data_dir=tmp_path / "data", refresh_interval_seconds=3600)
    started = await Services.start(settings, clock=clock)
    yield started
    await started.stop()


async def _account(services: Services, username: str) -> int:
    async with services.sessions.begin() as session:
        user = User(username=username, password_hash="x")
        session.add(user)
        await session.flush()
        return user.id


async def test_old_unused_keys_are_removed_with_an_audit_event(
    services: Services, clock: FakeClock
) -> None:
    admin = "keeper"
    admin_id = await _account(services, admin)
    app = "desk"
    caller = Caller(admin_id, admin, services.tuf.repo(admin, app))
    first = await online_keys.create(services, caller, CreateKeyRequest())
    used = await online_keys.create(services, caller, CreateKeyRequest())
    cer = ceremony(services.settings.resolved_online_key_dir, admin, app, online_key=used.key)
    await services.state.set(tenant_keys.bootstrap(caller.ref), "pre-boot")
    await submit_task(services, "bootstrap", admin, app, {"payload": cer.payload}, task_id="boot")
    await services.queue.wait_idle()
    assert (await services.state.get(tenant_keys.bootstrap(caller.ref))) == "boot"

    clock.advance(days=6)
    young = await online_keys.create(services, caller, CreateKeyRequest())
    assert await online_keys.expire_unused(services, clock()) == 0
    clock.advance(days=1, seconds=1)
    assert await online_keys.expire_unused(services, clock()) == 1
    remaining = {k["keyid"] for k in await online_keys.listing(caller)}
    assert remaining == {used.keyid, young.keyid}
    assert first.keyid not in remaining
    clock.advance(days=30)
    assert await online_keys.expire_unused(services, clock()) == 1
    assert {k["keyid"] for k in await online_keys.listing(caller)} == {used.keyid}

    async with services.sessions() as session:
        rows, _ = await audit.page(session, admin_id, app, 1, 100)
    expired = [(r.actor, r.details) for r in rows if r.event == "online_key_expired"]
    assert sorted(expired, key=lambda e: str(e[1])) == sorted(
        [("tufsync", {"keyid": first.keyid}), ("tufsync", {"keyid": young.keyid})],
        key=lambda e: str(e[1]),
    )
    with pytest.raises(OnlineKeyRefused) as refused:
        await online_keys.delete(services, caller, used.keyid)
    assert refused.value.status == 409
    assert timedelta(days=services.settings.unused_online_key_days) == timedelta(days=7)


async def test_the_periodic_pass_removes_old_unused_keys(tmp_path: Path, clock: FakeClock) -> None:
    settings = Settings(data_dir=tmp_path / "data", refresh_interval_seconds=0.2)
    started = await Services.start(settings, clock=clock)
    try:
        admin_id = await _account(started, "sweeper")
        caller = Caller(admin_id, "sweeper", started.tuf.repo("sweeper", "desk"))
        made = await online_keys.create(started, caller, CreateKeyRequest())
        clock.advance(days=8)
        deadline = asyncio.get_running_loop().time() + 30
        while await online_keys.listing(caller):
            assert asyncio.get_running_loop().time() < deadline, "old unused key not removed"
            await asyncio.sleep(0.2)
        async with started.sessions() as session:
            rows, _ = await audit.page(session, admin_id, "desk", 1, 10)
        assert (rows[0].event, rows[0].actor, rows[0].details) == (
            "online_key_expired",
            "tufsync",
            {"keyid": made.keyid},
        )
    finally:
        await started.stop()


async def test_an_unwritable_key_folder_is_503_not_500(services: Services) -> None:
    admin_id = await _account(services, "blocked")
    caller = Caller(admin_id, "blocked", services.tuf.repo("blocked", "desk"))
    root = services.settings.resolved_online_key_dir
    root.mkdir(parents=True, exist_ok=True)
    (root / "blocked").write_text("a file where the admin's folder goes")
    with pytest.raises(OnlineKeyRefused) as refused:
        await online_keys.create(services, caller, CreateKeyRequest())
    assert refused.value.status == 503
    assert await online_keys.listing(caller) == []
    (root / "blocked").unlink()
    (root / "blocked").symlink_to(root / "elsewhere", target_is_directory=True)
    (root / "elsewhere" / "desk").mkdir(parents=True)
    with pytest.raises(OnlineKeyRefused) as through_link:
        await online_keys.create(services, caller, CreateKeyRequest())
    assert through_link.value.status == 503
    assert list((root / "elsewhere" / "desk").iterdir()) == []


def test_api_tokens_cannot_make_list_or_delete_keys(api: Api, server: ServerProcess) -> None:
    """Online keys are the admin's own business: a pipeline's API token gets 403."""
    app = unique_name("tok")
    api.upload_ok(app, "0.1", {"seed.deb": b"seed"})
    app_id = next(a["ID"] for a in api.get("/app/list").json()["apps"] if a["AppName"] == app)
    created = api.post("/token/create", json={"name": "ci", "allowed_apps": [app_id]})
    assert created.status_code == 201, created.text
    key = make_key(api, app)["data"]["keyid"]
    headers = {"Authorization": f"Bearer {created.json()['token']}"}
    params = {"appName": app}
    for method, extra in (("POST", {}), ("GET", {}), ("DELETE", {"keyid": key})):
        response = api.http.request(method, ROUTE, params={**params, **extra}, headers=headers)
        assert response.status_code == 403, (method, response.text)
    assert [k["keyid"] for k in listed(api, app)] == [key]


def test_a_missing_online_key_is_said_in_the_message_the_dashboard_shows(
    api: Api, server: ServerProcess
) -> None:
    """faynoSync's dashboard shows only ``message``: a root rotation to an online key the
    server does not hold says which key, the folder and the self-service route there,
    not just "Metadata Update Failed"."""
    app, missing, response = _rotate_to_a_deleted_key(api, server, "msg", ("timestamp",))
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert missing in message
    assert f"{api.username}/{app}/" in message
    assert f"POST /tuf/v1/keys/online?appName={app}" in message
