"""POST/GET /tuf/v1/bootstrap: acceptance, every 400 of the contract, 409s, no partial state."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner

from tests.support import Api, Ceremony, ceremony, hold_state_key, resign
from tufsync import tenant_keys
from tufsync.tenant_keys import TenantRef


def metadata_files(api: Api, app: str) -> list[str]:
    folder = api.server.public_dir / "tuf_metadata" / api.username / app
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


def test_get_bootstrap_before_and_after(api: Api) -> None:
    before = api.get("/tuf/v1/bootstrap", params={"appName": "fresh"}).json()
    assert before == {
        "data": {
            "bootstrap": False,
            "id": "",
            "state": None,
            "redis_locks": {"bootstrap_lock": "", "pre_locks": []},
        },
        "message": "System available for bootstrap.",
    }
    cer = ceremony(api.server.key_dir, api.username, "fresh")
    task = api.bootstrap_ok(cer.payload)
    assert task["result"]["task"] == "bootstrap"
    after = api.get("/tuf/v1/bootstrap", params={"appName": "fresh"}).json()
    assert after["data"]["bootstrap"] is True
    assert after["message"] == "Bootstrap already completed for this admin."
    assert metadata_files(api, "fresh") == [
        "1.default.json",
        "1.root.json",
        "1.snapshot.json",
        "1.targets.json",
        "timestamp.json",
    ]
    assert api.get("/tuf/v1/bootstrap", params={"appName": "a/b"}).status_code == 400
    assert api.get("/tuf/v1/bootstrap").status_code == 400


def test_second_bootstrap_is_409(api: Api) -> None:
    cer = ceremony(api.server.key_dir, api.username, "twice")
    first = api.bootstrap_ok(cer.payload)
    response = api.post("/tuf/v1/bootstrap", json=cer.payload)
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "Bootstrap already completed for this admin and app"
    assert body["data"]["status"] == "completed"
    assert body["data"]["app"] == "twice" and body["data"]["admin"] == api.username
    assert body["data"]["task_id"] == first["task_id"]


def test_concurrent_bootstraps_accept_exactly_one(api: Api) -> None:
    cer = ceremony(api.server.key_dir, api.username, "race")
    statuses: list[int] = []

    def send() -> None:
        statuses.append(api.post("/tuf/v1/bootstrap", json=cer.payload).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202] + [409] * 5


def _with_root(cer: Ceremony, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    payload = copy.deepcopy(cer.payload)
    root = payload["metadata"]["root"]
    change(root["signed"])
    payload["metadata"]["root"] = resign(root, cer.root_signers)
    return payload


def _expired(signed: dict[str, Any]) -> None:
    signed["expires"] = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _keyid_mismatch(signed: dict[str, Any]) -> None:
    keyid = signed["roles"]["root"]["keyids"][0]
    fake = "ab" * 32
    signed["keys"][fake] = signed["keys"].pop(keyid)
    signed["roles"]["root"]["keyids"] = [fake]


def _unsupported_type(signed: dict[str, Any]) -> None:
    keyid = signed["roles"]["timestamp"]["keyids"][0]
    signed["keys"][keyid]["scheme"] = "rsa-pkcs1v15-sha256"
    signed["keys"][keyid]["keytype"] = "rsa"


def _threshold_two(signed: dict[str, Any]) -> None:
    signed["roles"]["root"]["threshold"] = 2


def _foreign_online_key(signed: dict[str, Any]) -> None:
    other = CryptoSigner.generate_ed25519().public_key
    signed["keys"][other.keyid] = other.to_dict()
    signed["roles"]["snapshot"]["keyids"] = [other.keyid]


ROOT_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("type", lambda s: s.update(_type="targets"), "_type"),
    ("version", lambda s: s.update(version=2), "version 1"),
    ("expired", _expired, "expired"),
    ("keyid", _keyid_mismatch, "does not match its key material"),
    ("keytype", _unsupported_type, "unsupported type"),
    ("threshold", _threshold_two, "threshold"),
    ("online", _foreign_online_key, "not available to the server"),
    ("consistent", lambda s: s.update(consistent_snapshot=False), "consistent_snapshot"),
]


@pytest.mark.parametrize(("case", "change", "fragment"), ROOT_CASES, ids=[c[0] for c in ROOT_CASES])
def test_bootstrap_rejects_bad_root(
    api: Api, case: str, change: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    cer = ceremony(api.server.key_dir, api.username, "badroot")
    response = api.post("/tuf/v1/bootstrap", json=_with_root(cer, change))
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]
    assert metadata_files(api, "badroot") == []
    status = api.get("/tuf/v1/bootstrap", params={"appName": "badroot"}).json()["data"]
    assert status["bootstrap"] is False and status["state"] is None


def test_bootstrap_rejects_bad_signature(api: Api) -> None:
    cer = ceremony(api.server.key_dir, api.username, "badsig")
    payload = copy.deepcopy(cer.payload)
    sig = payload["metadata"]["root"]["signatures"][0]
    sig["sig"] = ("00" if sig["sig"][:2] != "00" else "11") + sig["sig"][2:]
    response = api.post("/tuf/v1/bootstrap", json=payload)
    assert response.status_code == 400
    assert "does not verify" in response.json()["error"]


def _delegations(api: Api, app: str, cer: Ceremony, **role: Any) -> dict[str, Any]:
    keyid = cer.online_keyid
    key = cer.payload["metadata"]["root"]["signed"]["keys"][keyid]
    base = {
        "name": "stable",
        "terminating": True,
        "keyids": [keyid],
        "threshold": 1,
        "paths": [f"{app}-{api.username}/stable/*"],
    }
    base.update(role)
    return {"keys": {keyid: key}, "roles": [base]}


SETTINGS_CASES: list[tuple[str, Callable[[Api, Ceremony, dict[str, Any]], None], str]] = [
    ("missing settings", lambda a, c, p: p.pop("settings"), "settings"),
    (
        "zero days",
        lambda a, c, p: p["settings"]["roles"]["timestamp"].update(expiration=0),
        "between 1",
    ),
    ("absurd days", lambda a, c, p: p["settings"]["roles"]["root"].update(expiration=4000), "3650"),
    ("no snapshot", lambda a, c, p: p["settings"]["roles"].pop("snapshot"), "snapshot"),
    ("no metadata", lambda a, c, p: p.pop("metadata"), "metadata"),
    (
        "clash",
        lambda a, c, p: p["settings"]["roles"].update(
            delegations=_delegations(a, "deleg", c, name="snapshot")
        ),
        "clashes with a top-level role",
    ),
    (
        "empty path pattern",
        lambda a, c, p: p["settings"]["roles"].update(
            delegations=_delegations(a, "deleg", c, paths=[""])
        ),
        "must be a non-empty string",
    ),
    (
        "control character in path pattern",
        lambda a, c, p: p["settings"]["roles"].update(
            delegations=_delegations(a, "deleg", c, paths=["deleg/\n*"])
        ),
        "control character",
    ),
    (
        "duplicate names",
        lambda a, c, p: p["settings"]["roles"].update(
            delegations={
                **_delegations(a, "deleg", c),
                "roles": _delegations(a, "deleg", c)["roles"] * 2,
            }
        ),
        "more than once",
    ),
    (
        "offline targets missing",
        lambda a, c, p: p["settings"]["roles"]["targets"].update(online_key=False),
        "metadata.targets",
    ),
    ("timeout", lambda a, c, p: p.update(timeout=-1), "timeout"),
]


@pytest.mark.parametrize(
    ("case", "change", "fragment"), SETTINGS_CASES, ids=[c[0] for c in SETTINGS_CASES]
)
def test_bootstrap_rejects_bad_settings(
    api: Api, case: str, change: Callable[[Api, Ceremony, dict[str, Any]], None], fragment: str
) -> None:
    cer = ceremony(api.server.key_dir, api.username, "deleg")
    payload = copy.deepcopy(cer.payload)
    change(api, cer, payload)
    response = api.post("/tuf/v1/bootstrap", json=payload)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]
    assert metadata_files(api, "deleg") == []


def test_bootstrap_with_custom_delegation(api: Api) -> None:
    cer = ceremony(api.server.key_dir, api.username, "custom")
    payload = copy.deepcopy(cer.payload)
    payload["settings"]["roles"]["delegations"] = _delegations(api, "custom", cer, expiration=30)
    api.bootstrap_ok(payload)
    config = api.get("/tuf/v1/config", params={"appName": "custom"}).json()["data"]
    assert config["delegated_roles"] == {
        "stable": {"expiration": 30, "threshold": 1, "num_keys": 1}
    }
    assert "1.stable.json" in metadata_files(api, "custom")


def test_failed_bootstrap_task_leaves_nothing(api: Api) -> None:
    cer = ceremony(api.server.key_dir, api.username, "timeout")
    payload = {**cer.payload, "timeout": 1}
    # Someone else holds the repository lock, so the task runs out of time.
    lock = tenant_keys.repo_lock(TenantRef(api.username, "timeout"))
    with hold_state_key(api.server, lock):
        response = api.post("/tuf/v1/bootstrap", json=payload)
        assert response.status_code == 202
        task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "FAILURE"
    assert "timed out" in task["result"]["error"]
    assert metadata_files(api, "timeout") == []
    private = api.server.public_dir / "tuf_private" / api.username / "timeout"
    assert not any(private.glob("*")) if private.exists() else True
    status = api.get("/tuf/v1/bootstrap", params={"appName": "timeout"}).json()["data"]
    assert status["bootstrap"] is False and status["state"] is None
    assert api.get("/tuf/v1/config", params={"appName": "timeout"}).status_code == 404
    api.bootstrap_ok(cer.payload)


def test_config_after_bootstrap(api: Api, tmp_path: Path) -> None:
    missing = api.get("/tuf/v1/config", params={"appName": "cfg"})
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "It requires bootstrap. State: ",
        "message": "No Repository Settings/Config found.",
    }
    cer = ceremony(
        api.server.key_dir,
        api.username,
        "cfg",
        root_keys=3,
        threshold=2,
        expirations={"timestamp": 2, "snapshot": 9},
    )
    task = api.bootstrap_ok(cer.payload)
    data = api.get("/tuf/v1/config", params={"appName": "cfg"}).json()["data"]
    assert data == {
        "bootstrap": task["task_id"],
        "role_expiration": 365,
        "root_expiration": 365,
        "root_num_keys": 3,
        "root_threshold": 2,
        "timestamp_expiration": 2,
        "timestamp_num_keys": 1,
        "timestamp_threshold": 1,
        "snapshot_expiration": 9,
        "snapshot_num_keys": 1,
        "snapshot_threshold": 1,
        "targets_expiration": 365,
        "targets_num_keys": 1,
        "targets_threshold": 1,
        "targets_online_key": 1,
        "delegated_roles": {"default": {"expiration": 365, "threshold": 1, "num_keys": 1}},
    }
    private = api.server.public_dir / "tuf_private" / api.username / "cfg" / "settings.json"
    assert private.exists()
