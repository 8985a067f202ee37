"""faynoSync's clients against tufsync: the requests its dashboard sends, faynoSync's answers.

Each test sends exactly what the faynoSync dashboard (ku9nov/faynoSync-dashboard
f2cc718) sends, and checks the field names, status codes and texts that
faynoSync's server (ku9nov/faynoSync 64e76c3) answers with. The bootstrap
payload is built the way the dashboard's key-and-payload generator builds it
(its own code is not copied here: the shape is rebuilt from the contract).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner

from tests.support import Api
from tufsync.keyholder.verify import verify_download

DASHBOARD = "http://localhost:3000"


@dataclass
class GeneratedKey:
    keyid: str
    public: str
    private: ed25519.Ed25519PrivateKey

    @property
    def signer(self) -> CryptoSigner:
        return CryptoSigner(self.private)

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def tuf_key(self) -> dict[str, Any]:
        return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": self.public}}

    def sign(self, signed: dict[str, Any]) -> dict[str, str]:
        sig = self.private.sign(encode_canonical(signed).encode())
        return {"keyid": self.keyid, "sig": sig.hex()}


def generate_key() -> GeneratedKey:
    """An ed25519 key as the generator makes one: keyid = sha256 of the canonical key."""
    import hashlib

    private = ed25519.Ed25519PrivateKey.generate()
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        .hex()
    )
    key = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": public}}
    keyid = hashlib.sha256(encode_canonical(key).encode()).hexdigest()
    return GeneratedKey(keyid, public, private)


@dataclass
class Generated:
    payload: dict[str, Any]
    root: list[GeneratedKey]
    online: dict[str, GeneratedKey]
    delegation: GeneratedKey
    role: str


def generator_payload(api: Api, app: str, role: str = "stable") -> Generated:
    """The bootstrap payload of the dashboard's key-and-payload generator (defaults:
    two root keys with threshold 1, one key per other role, one delegated role whose
    paths are the generator's five patterns), with the online keys placed in the
    tenant's key folder."""
    admin = api.username
    root = [generate_key(), generate_key()]
    online = {name: generate_key() for name in ("timestamp", "snapshot", "targets")}
    delegation = generate_key()
    expires = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    keys = {k.keyid: k.tuf_key() for k in [*root, *online.values(), delegation]}
    signed = {
        "_type": "root",
        "version": 1,
        "spec_version": "1.0.31",
        "expires": expires,
        "consistent_snapshot": True,
        "keys": keys,
        "roles": {
            "root": {"keyids": [k.keyid for k in root], "threshold": 1},
            **{n: {"keyids": [k.keyid], "threshold": 1} for n, k in online.items()},
        },
    }
    payload = {
        "settings": {
            "roles": {
                "root": {"expiration": 365},
                "timestamp": {"expiration": 1},
                "snapshot": {"expiration": 1},
                "targets": {"expiration": 365},
                "delegations": {
                    "keys": {delegation.keyid: delegation.tuf_key()},
                    "roles": [
                        {
                            "name": role,
                            "terminating": False,
                            "keyids": [delegation.keyid],
                            "threshold": 1,
                            "paths": [
                                f"{admin}/{app}/*",
                                f"{app}-{admin}/*",
                                f"electron-builder/{app}-{admin}/*",
                                f"squirrel_windows/{app}-{admin}/*",
                                f"velopack/{admin}/{app}/*",
                            ],
                        }
                    ],
                },
            }
        },
        "metadata": {"root": {"signatures": [root[0].sign(signed)], "signed": signed}},
        "appName": app,
    }
    folder = api.server.key_dir / admin / app
    folder.mkdir(parents=True, exist_ok=True)
    for key in [*online.values(), delegation]:
        (folder / key.keyid).write_bytes(key.pem())
    return Generated(payload, root, online, delegation, role)


def app_id(api: Api, app: str) -> str:
    apps = api.get("/app/list").json()["apps"]
    return str(next(a["ID"] for a in apps if a["AppName"] == app))


def root_bytes(gen: Generated) -> bytes:
    return json.dumps(gen.payload["metadata"]["root"]).encode()


def test_cors_preflight_from_the_dashboard_origin(api: Api) -> None:
    preflight = api.http.options(
        "/login",
        headers={
            "Origin": DASHBOARD,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.content == b""
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    tuf_preflight = api.http.options(
        "/tuf/v1/metadata/sign?appName=x",
        headers={
            "Origin": "http://127.0.0.1:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert tuf_preflight.status_code == 204
    assert tuf_preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    # The request itself carries the header for the browser.
    listed = api.get("/tuf/v1/bootstrap", params={"appName": "x"}, headers={"Origin": DASHBOARD})
    assert listed.headers["access-control-allow-origin"] == DASHBOARD
    # Another origin gets no Access-Control-Allow-* header: the browser refuses.
    foreign = api.http.options(
        "/login",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert foreign.status_code == 204
    assert not [h for h in foreign.headers if h.startswith("access-control-allow")]


def test_cors_origins_are_a_setting() -> None:
    import asyncio

    import httpx

    from tufsync.api.app import create_app
    from tufsync.settings import Settings

    # Preflights are answered by the middleware alone: no services need to start.
    app = create_app(Settings(allowed_cors="https://dash.example, https://b.example"))
    ask = {"Access-Control-Request-Method": "GET"}

    async def preflight(origin: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.options("/tuf/v1/config", headers={"Origin": origin, **ask})

    for origin in ("https://dash.example", "https://b.example"):
        answer = asyncio.run(preflight(origin))
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == origin
    default = asyncio.run(preflight(DASHBOARD))
    assert "access-control-allow-origin" not in default.headers


def test_generator_payload_bootstraps_and_status_reads_as_faynosync(api: Api) -> None:
    app = "gen"
    before = api.get("/tuf/v1/bootstrap", params={"appName": app})
    assert before.json() == {
        "data": {
            "bootstrap": False,
            "id": "",
            "state": None,
            "redis_locks": {"bootstrap_lock": "", "pre_locks": []},
        },
        "message": "System available for bootstrap.",
    }
    gen = generator_payload(api, app)
    response = api.post("/tuf/v1/bootstrap", json=gen.payload)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["message"] == "Bootstrap accepted and started in background"
    task_id = body["data"]["task_id"]
    assert uuid.UUID(task_id).version == 4 and body["data"]["last_update"]
    task = api.wait_task(task_id)
    assert task["state"] == "SUCCESS", task
    assert task["result"]["task"] == "bootstrap" and task["result"]["status"] is True
    # The dashboard shows the app as bootstrapped only for bootstrap true AND state null.
    after = api.get("/tuf/v1/bootstrap", params={"appName": app}).json()
    assert after == {
        "data": {
            "bootstrap": True,
            "id": task_id,
            "state": None,
            "redis_locks": {"bootstrap_lock": task_id, "pre_locks": []},
        },
        "message": "Bootstrap already completed for this admin.",
    }
    config = api.get("/tuf/v1/config", params={"appName": app}).json()
    assert config["message"] == "Current Settings"
    assert config["data"]["bootstrap"] == task_id
    assert config["data"]["targets_online_key"] == 1
    assert config["data"]["delegated_roles"] == {
        "stable": {"expiration": 365, "threshold": 1, "num_keys": 1}
    }
    again = api.post("/tuf/v1/bootstrap", json=gen.payload)
    assert again.status_code == 409
    assert again.json()["error"] == "Bootstrap already completed for this admin and app"
    assert again.json()["data"]["status"] == "completed"


def test_publish_with_the_application_id_routes_by_faynosync_rule(api: Api, tmp_path: Path) -> None:
    app = "pubapp"
    gen = generator_payload(api, app)
    api.bootstrap_ok(gen.payload)
    # Channel, platform and arch given: the path is deeper than `<app>-<admin>/*` reaches.
    api.upload_ok(
        app, "1.0", {"a.bin": b"release one"}, channel="stable", platform="linux", arch="amd64"
    )
    application = app_id(api, app)
    # What the dashboard's TUF button sends: the APPLICATION id and the version.
    response = api.post("/tuf/v1/artifacts/publish", json={"app_id": application, "version": "1.0"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["message"] == "Artifact(s) publishing started"
    assert sorted(body["data"]) == ["app_id", "artifacts", "last_update", "task_id", "version"]
    assert body["data"]["app_id"] == application and body["data"]["version"] == "1.0"
    [path] = body["data"]["artifacts"]
    task = api.wait_task(body["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["result"]["task"] == "add_artifacts"
    # `<app>-<admin>/*` covers the path only under faynoSync's trailing-/* rule: the exact
    # path joins the role's paths in targets, so that standard TUF clients find it.
    targets = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    [role] = targets["trusted_targets"]["signed"]["delegations"]["roles"]
    assert role["name"] == "stable" and path in role["paths"]
    assert targets["trusted_targets"]["signed"]["version"] == 2
    trusted = tmp_path / "root.json"
    trusted.write_bytes(root_bytes(gen))
    verify_download(api.server.public_url, api.username, app, trusted, path, tmp_path / "dl")
    again = api.post("/tuf/v1/artifacts/publish", json={"app_id": application, "version": "1.0"})
    assert again.status_code == 200
    assert again.json() == {
        "data": {"app_id": application, "artifacts": [], "version": "1.0"},
        "message": "All artifacts are already signed",
    }
    missing = api.post("/tuf/v1/artifacts/publish", json={"app_id": application, "version": "9"})
    assert missing.status_code == 404
    assert missing.json() == {"error": f"App version not found: app_id={application}, version=9"}


def test_publish_fails_when_no_role_matches(api: Api) -> None:
    app = "nomatch"
    gen = generator_payload(api, app)
    gen.payload["settings"]["roles"]["delegations"]["roles"][0]["paths"] = ["elsewhere/*.bin"]
    api.bootstrap_ok(gen.payload)
    api.upload_ok(app, "1.0", {"a.bin": b"x"})
    response = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": app_id(api, app), "version": "1.0"}
    )
    assert response.status_code == 202
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "FAILURE"
    assert "no delegated role's paths match target path" in task["result"]["error"]


def test_root_rotation_signing_progress_as_the_dashboard_parses_it(api: Api) -> None:
    app = "rootprog"
    gen = generator_payload(api, app)
    api.bootstrap_ok(gen.payload)
    trusted = api.get("/tuf/v1/metadata/root", params={"appName": app}).json()["data"]
    signed = copy.deepcopy(trusted["trusted_root"]["signed"])
    new = [generate_key(), generate_key()]
    signed["version"] = 2
    for key in new:
        signed["keys"][key.keyid] = key.tuf_key()
    signed["roles"]["root"] = {"keyids": [k.keyid for k in new], "threshold": 2}
    for old in gen.root:
        del signed["keys"][old.keyid]
    posted = api.post(
        "/tuf/v1/metadata",
        params={"appName": app},
        json={"metadata": {"root": {"signed": signed, "signatures": []}}},
    )
    assert posted.status_code == 200
    assert posted.json()["message"] == "Metadata Update Processed"
    first = api.post(
        "/tuf/v1/metadata/sign",
        params={"appName": app},
        json={"role": "root", "signature": gen.root[0].sign(signed)},
    )
    assert first.status_code == 400
    assert first.json()["message"] == "Signature Failed"
    error = first.json()["error"]
    # The dashboard's own regular expression (RotateRootKeys.tsx) must read it.
    match = re.search(
        r"Progress:\s*(\d+)/(\d+)\s+signatures\s+collected\s+\((\d+)\s+old\s+\+\s+(\d+)\s+new\)"
        r"[.\s]*(\d+)\s+more\s+required\s+\((\d+)\s+old\s+\+\s+(\d+)\s+new\)",
        error,
        re.I,
    )
    assert match and match.groups() == ("1", "3", "1", "0", "2", "0", "2"), error
    assert f"Old keys signed: [{gen.root[0].keyid}]." in error
    assert f"Missing new keys: [{new[0].keyid} {new[1].keyid}]." in error
    assert "Missing old keys" not in error
    for key, status in ((new[0], 400), (new[1], 200)):
        answer = api.post(
            "/tuf/v1/metadata/sign",
            params={"appName": app},
            json={"role": "root", "signature": key.sign(signed)},
        )
        assert answer.status_code == status, answer.text
    assert answer.json()["message"] == "Metadata update finished"
    assert api.wait_task(answer.json()["data"]["task_id"])["state"] == "SUCCESS"
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()
    assert pending == {"data": None, "message": "No metadata pending signing available"}


def test_delegated_rotation_wizard_signs_step_by_step(api: Api, tmp_path: Path) -> None:
    app = "wizard"
    gen = generator_payload(api, app)
    api.bootstrap_ok(gen.payload)
    api.upload_ok(app, "1.0", {"a.bin": b"before rotation"})
    published = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": app_id(api, app), "version": "1.0"}
    ).json()["data"]
    assert api.wait_task(published["task_id"])["state"] == "SUCCESS"
    [path] = published["artifacts"]

    # The wizard's scripts: new role key (placed online), targets v+1 naming it, role v+1.
    new_key = generate_key()
    (api.server.key_dir / api.username / app / new_key.keyid).write_bytes(new_key.pem())
    targets = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    targets_signed = copy.deepcopy(targets["trusted_targets"]["signed"])
    targets_signed["version"] += 1
    targets_signed["delegations"]["keys"] = {new_key.keyid: new_key.tuf_key()}
    targets_signed["delegations"]["roles"][0]["keyids"] = [new_key.keyid]
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": app, "roleName": gen.role}
    ).json()["data"]["trusted_delegated"]
    role_signed = copy.deepcopy(delegated["signed"])
    role_signed["version"] += 1
    request = {
        "role": gen.role,
        "delegator": "targets",
        "metadata": {
            "targets": {"signed": targets_signed, "signatures": []},
            gen.role: {"signed": role_signed, "signatures": []},
        },
    }
    staged = api.post("/tuf/v1/metadata/delegated/rotate", params={"appName": app}, json=request)
    assert staged.status_code == 200, staged.text
    assert staged.json()["message"] == "Metadata rotation staged for signing"
    assert api.wait_task(staged.json()["data"]["task_id"])["state"] == "SUCCESS"
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]["metadata"]
    assert {"targets", gen.role, "trusted_targets"} <= set(pending)

    # Step 1: targets, signed with the targets key the generator gave the admin.
    step1 = api.post(
        "/tuf/v1/metadata/sign",
        params={"appName": app},
        json={"role": "targets", "signature": gen.online["targets"].sign(targets_signed)},
    )
    assert step1.status_code == 200, step1.text
    assert step1.json()["message"] == "Role targets signing complete"
    assert api.wait_task(step1.json()["data"]["task_id"])["state"] == "SUCCESS"
    # Nothing is published until the role is signed too (clients never see targets
    # naming keys the role file is not yet signed with).
    now = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    assert now["trusted_targets"]["signed"]["version"] == targets_signed["version"] - 1

    # Step 2: the role, signed with its new key.
    step2 = api.post(
        "/tuf/v1/metadata/sign",
        params={"appName": app},
        json={"role": gen.role, "signature": new_key.sign(role_signed)},
    )
    assert step2.status_code == 200, step2.text
    assert step2.json()["message"] == f"Role {gen.role} signing complete"
    assert api.wait_task(step2.json()["data"]["task_id"])["state"] == "SUCCESS"
    now = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    assert now["trusted_targets"]["signed"]["version"] == targets_signed["version"]
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None
    trusted = tmp_path / "root.json"
    trusted.write_bytes(root_bytes(gen))
    verify_download(api.server.public_url, api.username, app, trusted, path, tmp_path / "dl")

    # Publishing after the rotation signs with the new (online) role key.
    api.upload_ok(app, "2.0", {"a.bin": b"after rotation"})
    second = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": app_id(api, app), "version": "2.0"}
    ).json()["data"]
    assert api.wait_task(second["task_id"])["state"] == "SUCCESS"
    verify_download(
        api.server.public_url, api.username, app, trusted, second["artifacts"][0], tmp_path / "d2"
    )


def test_openapi_describes_every_tuf_route(api: Api) -> None:
    spec = api.get("/openapi.json").json()
    routes = [
        ("get", "/tuf/v1/bootstrap"),
        ("post", "/tuf/v1/bootstrap"),
        ("post", "/tuf/v1/bootstrap/recovery"),
        ("get", "/tuf/v1/task"),
        ("post", "/tuf/v1/artifacts/publish"),
        ("post", "/tuf/v1/artifacts/delete"),
        ("get", "/tuf/v1/config"),
        ("put", "/tuf/v1/config"),
        ("post", "/tuf/v1/metadata"),
        ("post", "/tuf/v1/metadata/delegated/rotate"),
        ("get", "/tuf/v1/metadata/sign"),
        ("post", "/tuf/v1/metadata/sign"),
        ("post", "/tuf/v1/metadata/sign/delete"),
        ("post", "/tuf/v1/metadata/online"),
        ("get", "/tuf/v1/metadata/root"),
        ("get", "/tuf/v1/metadata/targets"),
        ("get", "/tuf/v1/metadata/delegated"),
    ]
    for method, path in routes:
        operation = spec["paths"][path][method]
        if method != "get":
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body.get("properties") or body.get("$ref"), (method, path)
        success = [c for c in operation["responses"] if c.startswith("2")]
        assert success, (method, path)
        for code in success:
            schema = operation["responses"][code]["content"]["application/json"]["schema"]
            assert schema.get("$ref"), (method, path, code)
        assert "401" in operation["responses"], (method, path)


def _wizard_new_targets(
    current: dict[str, Any], role: str, new_keys: list[GeneratedKey], threshold: int
) -> dict[str, Any]:
    """Step 2 of the wizard (its create_new_targets_metadata_delegation_rotation script):
    version + 1, expires + 365 days, the role's old keys dropped from delegations.keys
    unless another role uses them, the new keys added, the role's keyids and threshold
    replaced; unsigned."""
    signed = copy.deepcopy(current["signed"])
    signed["version"] += 1
    expires = datetime.fromisoformat(signed["expires"].replace("Z", "+00:00"))
    signed["expires"] = (expires + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    roles = signed["delegations"]["roles"]
    entry = next(r for r in roles if r["name"] == role)
    for keyid in entry["keyids"]:
        used = sum(keyid in r["keyids"] for r in roles)
        if used <= 1:
            signed["delegations"]["keys"].pop(keyid, None)
    for key in new_keys:
        signed["delegations"]["keys"][key.keyid] = key.tuf_key()
    entry["keyids"] = [k.keyid for k in new_keys]
    entry["threshold"] = threshold
    return {"signatures": [], "signed": signed}


def _wizard_new_role(current: dict[str, Any]) -> dict[str, Any]:
    """Step 3 (create_new_delegated_role_metadata): version + 1, expires + 90 days,
    the targets kept; unsigned."""
    signed = copy.deepcopy(current["signed"])
    signed["version"] += 1
    expires = datetime.fromisoformat(signed["expires"].replace("Z", "+00:00"))
    signed["expires"] = (expires + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"signatures": [], "signed": signed}


def _wizard_sign(api: Api, app: str, role: str, key: GeneratedKey, doc: dict[str, Any]) -> Any:
    """Steps 7 and 8: sign_metadata_for_api signs the canonical ``signed`` of the file
    the user built, and the dashboard posts ``{"role", "signature"}`` as is."""
    return api.post(
        "/tuf/v1/metadata/sign",
        params={"appName": app},
        json={"role": role, "signature": key.sign(doc["signed"])},
    )


def _wizard_signs_targets(api: Api, app: str, gen: Generated, doc: dict[str, Any]) -> None:
    step = _wizard_sign(api, app, "targets", gen.online["targets"], doc)
    assert step.status_code == 200, step.text
    assert step.json()["message"] == "Role targets signing complete"
    assert api.wait_task(step.json()["data"]["task_id"])["state"] == "SUCCESS"


def _targets_version(api: Api, app: str) -> int:
    now = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    return int(now["trusted_targets"]["signed"]["version"])


@pytest.mark.parametrize("targets_first", [True, False], ids=["targets-first", "role-first"])
def test_delegated_rotation_wizard_to_keys_the_server_does_not_hold(
    api: Api, tmp_path: Path, targets_first: bool
) -> None:
    """The wizard rotates ``default`` to two keys the user generated (Step 1 writes them
    to the user's private_keys/, never to the server): the rotation is staged, signed by
    the targets key and the two new keys, published; releases into ``default`` then wait
    for the new keys' holders (docs/api.md §5.3)."""
    app = "wizoff" if targets_first else "wizoff2"
    gen = generator_payload(api, app, role="default")
    api.bootstrap_ok(gen.payload)
    api.upload_ok(app, "1.0", {"a.bin": b"before rotation"})
    published = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": app_id(api, app), "version": "1.0"}
    ).json()["data"]
    assert api.wait_task(published["task_id"])["state"] == "SUCCESS"
    [before] = published["artifacts"]

    # Step 0: the two files the wizard fetches (normalized to {signed, signatures}).
    targets = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": app, "roleName": "default"}
    ).json()["data"]
    # Steps 1-4: two new keys, threshold 2; the request body of build_delegated_rotation_request.
    new_keys = [generate_key(), generate_key()]
    new_targets = _wizard_new_targets(targets["trusted_targets"], "default", new_keys, 2)
    new_role = _wizard_new_role(delegated["trusted_delegated"])
    request = {
        "role": "default",
        "delegator": "targets",
        "metadata": {"targets": new_targets, "default": new_role},
    }
    # Step 5.
    staged = api.post("/tuf/v1/metadata/delegated/rotate", params={"appName": app}, json=request)
    assert staged.status_code == 200, staged.text
    assert staged.json()["message"] == "Metadata rotation staged for signing"
    assert api.wait_task(staged.json()["data"]["task_id"])["state"] == "SUCCESS"
    # Step 6: the wizard shows the message of GET /tuf/v1/metadata/sign.
    queue = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()
    assert queue["message"], queue
    assert {"targets", "default"} <= set(queue["data"]["metadata"])

    # Step 8 posts the payloads of 7A (targets, with the targets key of the generator's
    # key_info) and 7B (the role, with new keys 0 and 1) in the order the user pastes them.
    targets_version = targets["trusted_targets"]["signed"]["version"]
    if targets_first:
        _wizard_signs_targets(api, app, gen, new_targets)
    first = _wizard_sign(api, app, "default", new_keys[0], new_role)
    assert first.status_code == 400, first.text
    # The wizard's own test of the text: "Threshold not reached yet", not an error.
    assert "progress:" in first.json()["error"].lower(), first.text
    assert _targets_version(api, app) == targets_version
    last = _wizard_sign(api, app, "default", new_keys[1], new_role)
    assert last.status_code == 200, last.text
    assert last.json()["message"] == "Role default signing complete"
    done = api.wait_task(last.json()["data"]["task_id"])
    assert done["state"] == "SUCCESS", done
    if not targets_first:
        # Nothing is published before targets is signed too (clients never see a role
        # file signed by keys the published targets does not delegate to).
        assert done["result"]["details"]["awaiting"] == ["targets"], done
        assert _targets_version(api, app) == targets_version
        _wizard_signs_targets(api, app, gen, new_targets)
    assert _targets_version(api, app) == targets_version + 1
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None

    now = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    [entry] = now["trusted_targets"]["signed"]["delegations"]["roles"]
    assert entry["keyids"] == [k.keyid for k in new_keys] and entry["threshold"] == 2
    assert set(now["trusted_targets"]["signed"]["delegations"]["keys"]) == {
        k.keyid for k in new_keys
    }
    trusted = tmp_path / "root.json"
    trusted.write_bytes(root_bytes(gen))
    verify_download(api.server.public_url, api.username, app, trusted, before, tmp_path / "dl")

    # A release into the rotated role waits for its new keys' holders.
    api.upload_ok(app, "2.0", {"a.bin": b"after rotation"})
    second = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": app_id(api, app), "version": "2.0"}
    ).json()["data"]
    task = api.wait_task(second["task_id"])
    assert task["state"] == "SUCCESS", task
    [after] = second["artifacts"]
    assert task["result"]["details"]["awaiting_signatures"] == {
        "default": new_role["signed"]["version"] + 1
    }
    assert task["result"]["details"]["awaiting_artifacts"] == [after]
    draft = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]["metadata"]
    assert after in draft["default"]["signed"]["targets"]
    for key, status in ((new_keys[0], 400), (new_keys[1], 200)):
        answer = _wizard_sign(api, app, "default", key, draft["default"])
        assert answer.status_code == status, answer.text
    assert api.wait_task(answer.json()["data"]["task_id"])["state"] == "SUCCESS"
    verify_download(api.server.public_url, api.username, app, trusted, after, tmp_path / "d2")
