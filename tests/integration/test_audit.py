"""The audit trail: every kind of trust change, newest first, paged, owner only, no secrets.

Runs against a server on SQLite and a server on PostgreSQL (both real).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Root

from tests.integration.test_tuf_signing import (
    delegated_targets,
    next_root,
    post_sig,
    rotate,
    sig_for,
)
from tests.scaleout import upgrade_database
from tests.support import (
    PASSWORD,
    Api,
    ServerProcess,
    ceremony,
    offline_targets,
    resign,
    run_server,
    unique_name,
)
from tufsync.keyholder.ceremony import create_online_key


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def audit_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env: dict[str, str] = {}
    if request.param == "postgresql":
        env["TUFSYNC_DATABASE_URL"] = request.getfixturevalue("pg_url")
        upgrade_database(env)
    with run_server(tmp_path_factory.mktemp(f"audit-{request.param}"), env) as server:
        yield server


def trail(api: Api, app: str, **params: Any) -> dict[str, Any]:
    response = api.get("/tuf/v1/audit", params={"appName": app, **params})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def done(api: Api, response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 202), response.text
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    return task


def test_every_trust_change_is_recorded(audit_server: ServerProcess) -> None:
    api = Api(audit_server, unique_name("aud"))
    app = "audited"
    q = {"appName": app}
    cer = ceremony(audit_server.key_dir, api.username, app, root_keys=2)
    old0 = cer.root_signers[0]
    version_id = api.upload_ok(app, "1.0", {"a.deb": b"first", "b.rpm": b"second"})
    api.bootstrap_ok(cer.payload)
    api.publish_ok(version_id, "1.0")
    done(
        api,
        api.http.put(
            "/tuf/v1/config", params=q, json={"settings": {"expiration": {"snapshot": 9}}}
        ),
    )
    done(api, api.post("/tuf/v1/metadata/online", params=q, json={"roles": ["timestamp"]}))

    # Root rotation to {old0, new} with threshold 2: posted, two signatures, finalized.
    new = CryptoSigner.generate_ed25519()

    def to_pair(root: Root) -> None:
        root.revoke_key(cer.root_signers[1].public_key.keyid, "root")
        root.add_key(new.public_key, "root")
        root.roles["root"].threshold = 2

    draft = next_root(api, app, to_pair)
    done(api, api.post("/tuf/v1/metadata", params=q, json={"metadata": {"root": draft}}))
    assert post_sig(api, app, "root", sig_for(old0, draft)).status_code == 400  # needs more
    done(api, post_sig(api, app, "root", sig_for(new, draft)))

    # A draft cancelled, then a fully signed rotation published at once.
    unchanged = next_root(api, app, lambda root: None)
    done(api, api.post("/tuf/v1/metadata", params=q, json={"metadata": {"root": unchanged}}))
    done(api, api.post("/tuf/v1/metadata/sign/delete", params=q, json={"role": "root"}))
    signed = resign(next_root(api, app, lambda root: None), [old0, new])
    done(api, api.post("/tuf/v1/metadata", params=q, json={"metadata": {"root": signed}}))

    removal = {"id": version_id, "app_name": app, "version": "1.0", "artifacts_to_delete": ["0"]}
    done(api, api.post("/tuf/v1/artifacts/delete", json=removal))

    events = trail(api, app)
    kinds = [item["event"] for item in events["items"]]
    assert kinds == [
        "artifacts_removed",
        "root_published",
        "root_rotation_posted",
        "signing_cancelled",
        "root_rotation_posted",
        "signing_finalized",
        "signature_added",
        "signature_added",
        "root_rotation_posted",
        "forced_update",
        "config_changed",
        "artifacts_published",
        "bootstrap",
    ]
    assert events["total"] == len(kinds) and events["page"] == 1
    ids = [item["id"] for item in events["items"]]
    assert ids == sorted(ids, reverse=True)
    assert all(item["actor"] == api.username for item in events["items"])
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in events["items"]:
        by_kind.setdefault(item["event"], []).append(item["details"])
    assert by_kind["bootstrap"][0]["root_keyids"] == sorted(
        s.public_key.keyid for s in cer.root_signers
    )
    assert by_kind["bootstrap"][0]["online_keyids"] == [cer.online_keyid]
    assert by_kind["artifacts_published"][0]["version_id"] == version_id
    assert len(by_kind["artifacts_published"][0]["paths"]) == 2
    removed = by_kind["artifacts_removed"][0]["paths"]
    assert len(removed) == 1 and removed[0] in by_kind["artifacts_published"][0]["paths"]
    assert by_kind["config_changed"][0] == {"expiration": {"snapshot": 9}}
    assert by_kind["forced_update"][0]["roles"] == ["timestamp"]
    posted = by_kind["root_rotation_posted"][-1]  # the first one, oldest last
    assert posted["mode"] == "awaiting" and posted["version"] == 2
    assert posted["added_keyids"] == [new.public_key.keyid]
    assert posted["removed_keyids"] == [cer.root_signers[1].public_key.keyid]
    assert posted["root_threshold"] == 2
    assert by_kind["root_rotation_posted"][0]["mode"] == "publish"
    signatures = by_kind["signature_added"][::-1]
    assert [s["keyid"] for s in signatures] == [old0.public_key.keyid, new.public_key.keyid]
    assert [s["complete"] for s in signatures] == [False, True]
    assert "more required" in signatures[0]["progress"]
    assert by_kind["signing_finalized"][0]["role"] == "root"
    assert by_kind["signing_cancelled"][0] == {"role": "root"}
    assert by_kind["root_published"][0]["version"] == 3

    # Pages: newest first, a page beyond the end is empty.
    second = trail(api, app, page=2, limit=5)
    assert [i["event"] for i in second["items"]] == kinds[5:10]
    assert second["total"] == len(kinds) and second["limit"] == 5
    assert trail(api, app, page=9, limit=5)["items"] == []
    for bad in ({"page": 0}, {"limit": 0}, {"limit": 501}, {"page": "x"}):
        response = api.get("/tuf/v1/audit", params={"appName": app, **bad})
        assert response.status_code == 400, (bad, response.text)

    # Nothing secret: no private key, token, password or signature bytes.
    text = api.get("/tuf/v1/audit", params={"appName": app, "limit": 500}).text
    secrets = [
        api.http.headers["Authorization"].split()[1],
        PASSWORD,
        *(draft_sig["sig"] for draft_sig in (sig_for(old0, draft), sig_for(new, draft))),
    ]
    for pem in audit_server.key_dir.rglob("*.pem"):
        secrets.extend(line for line in pem.read_text().splitlines() if "-----" not in line)
    assert all(secret not in text for secret in secrets)


def test_delegated_rotation_and_recovery_are_recorded(audit_server: ServerProcess) -> None:
    api = Api(audit_server, unique_name("aud"))
    app = "deleg"
    offline = offline_targets(api, app)
    api.bootstrap_ok(offline.payload)
    new_key = create_online_key(audit_server.key_dir, api.username, app)
    targets = delegated_targets(api, app, new_key.keyid, new_key.to_dict())
    done(api, rotate(api, app, {"role": "releases", "metadata": {"targets": targets}}))
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]["metadata"]
    done(api, post_sig(api, app, "targets", sig_for(offline.targets_signer, pending["targets"])))
    # A rotation that arrives fully signed is published at once.
    newer = create_online_key(audit_server.key_dir, api.username, app)
    signed = delegated_targets(api, app, newer.keyid, newer.to_dict())
    signed["signatures"] = [sig_for(offline.targets_signer, signed)]
    done(api, rotate(api, app, {"role": "releases", "metadata": {"targets": signed}}))

    # Recovery after the state store lost this repository's entries.
    conn = sqlite3.connect(audit_server.data_dir / "state.db")
    with conn:
        conn.execute(
            "DELETE FROM state_entries WHERE key LIKE ? AND key NOT LIKE 'TASK%'",
            (f"%{api.username}%",),
        )
    conn.close()
    response = api.post("/tuf/v1/bootstrap/recovery", json={"appName": app})
    done(api, response)

    items = trail(api, app)["items"]
    assert [i["event"] for i in items] == [
        "recovery",
        "delegated_published",
        "delegated_rotation_posted",
        "signing_finalized",
        "signature_added",
        "delegated_rotation_posted",
        "bootstrap",
    ]
    posted = items[5]["details"]
    assert posted["mode"] == "awaiting" and set(posted["roles"]) == {"targets", "releases"}
    assert items[4]["details"]["keyid"] == offline.targets_signer.public_key.keyid
    assert items[2]["details"]["mode"] == "publish"
    assert set(items[1]["details"]["roles"]) == {"targets", "releases"}
    assert items[1]["details"]["versions"]["targets"] == 3
    assert items[0]["task_id"] == response.json()["data"]["task_id"]


def test_another_admin_gets_what_a_missing_app_gets(audit_server: ServerProcess) -> None:
    owner, other = Api(audit_server, unique_name("own")), Api(audit_server, unique_name("oth"))
    app = "private-trail"
    owner.bootstrap_ok(ceremony(audit_server.key_dir, owner.username, app).payload)
    assert trail(owner, app)["total"] == 1

    foreign = other.get("/tuf/v1/audit", params={"appName": app})
    missing = other.get("/tuf/v1/audit", params={"appName": "never-made"})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"].replace(app, "never-made") == missing.json()["error"]
    assert owner.get("/tuf/v1/audit", params={"appName": "never-made"}).json() == missing.json()

    # The other admin's own repository of the same name has its own trail only.
    theirs = ceremony(audit_server.key_dir, other.username, app)
    other.bootstrap_ok(theirs.payload)
    items = trail(other, app)["items"]
    assert [i["event"] for i in items] == ["bootstrap"]
    assert items[0]["actor"] == other.username
    assert items[0]["details"]["online_keyids"] == [theirs.online_keyid]
    assert trail(owner, app)["total"] == 1
    assert (
        other.http.get(
            "/tuf/v1/audit", params={"appName": app}, headers={"Authorization": ""}
        ).status_code
        == 401
    )
