"""Delegated role names and delegations that a TUF client could not use safely.

A client stores each role as ``<name>.json``: a delegated ``Root`` or
``TIMESTAMP`` would overwrite the trusted ``root.json`` / ``timestamp.json`` on
a case-insensitive filesystem, and two roles differing only in case would share
one file. A rotation may not delegate to roles that have no metadata (snapshot
must list every delegated role). Each is a 400 with a sentence, in bootstrap
and in delegated rotation.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata

from tests.support import Api, ceremony, offline_targets, unique_name


def role(api: Api, app: str, keyid: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "terminating": True,
        "keyids": [keyid],
        "threshold": 1,
        "paths": [f"{app}-{api.username}/{name.lower()}/*"],
    }


def bootstrap_with_roles(api: Api, app: str, names: list[str]) -> Any:
    cer = ceremony(api.server.key_dir, api.username, app)
    keyid = cer.online_keyid
    payload = copy.deepcopy(cer.payload)
    payload["settings"]["roles"]["delegations"] = {
        "keys": {keyid: payload["metadata"]["root"]["signed"]["keys"][keyid]},
        "roles": [role(api, app, keyid, name) for name in names],
    }
    return api.post("/tuf/v1/bootstrap", json=payload)


@pytest.mark.parametrize("name", ["Root", "TIMESTAMP", "Snapshot", "tarGets"])
def test_bootstrap_refuses_case_variants_of_top_level_names(api: Api, name: str) -> None:
    app = unique_name("case")
    response = bootstrap_with_roles(api, app, ["stable", name])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert f"delegated role name {name!r} clashes with a top-level role" in error, error
    assert "case-insensitive filesystem" in error, error
    status = api.get("/tuf/v1/bootstrap", params={"appName": app}).json()["data"]
    assert status["bootstrap"] is False and status["id"] == "", status


def test_bootstrap_refuses_names_differing_only_in_case(api: Api) -> None:
    app = unique_name("case")
    response = bootstrap_with_roles(api, app, ["stable", "Stable"])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "'stable' and 'Stable' differ only in letter case" in error, error


def test_offline_targets_v1_may_not_delegate_to_a_case_variant(api: Api) -> None:
    app = unique_name("case")
    offline = offline_targets(api, app)
    payload = copy.deepcopy(offline.payload)
    targets = Metadata.from_dict(copy.deepcopy(payload["metadata"]["targets"]))
    delegations = targets.signed.delegations
    assert delegations is not None and delegations.roles is not None
    releases = delegations.roles.pop("releases")
    releases.name = "Root"
    delegations.roles["Root"] = releases
    targets.sign(offline.targets_signer)
    payload["metadata"]["targets"] = targets.to_dict()
    response = api.post("/tuf/v1/bootstrap", json=payload)
    assert response.status_code == 400, response.text
    assert "'Root' clashes with a top-level role" in response.json()["error"]


def rotate(api: Api, app: str, body: dict[str, Any]) -> Any:
    return api.post("/tuf/v1/metadata/delegated/rotate", params={"appName": app}, json=body)


def next_targets(api: Api, app: str, names: list[str]) -> dict[str, Any]:
    """The trusted targets, version + 1, also delegating to ``names`` (one new key)."""
    current = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    signed = copy.deepcopy(current["trusted_targets"]["signed"])
    signed["version"] += 1
    keyid = signed["delegations"]["roles"][0]["keyids"][0]
    signed["delegations"]["roles"] += [role(api, app, keyid, name) for name in names]
    return {"signed": signed, "signatures": []}


def test_rotation_refuses_roles_without_metadata_and_case_variants(api: Api) -> None:
    app = unique_name("rot")
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)

    # 'gamma' would be delegated to with no metadata at all: not listed in snapshot.
    response = rotate(
        api,
        app,
        {"role": "beta", "metadata": {"targets": next_targets(api, app, ["beta", "gamma"])}},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "delegates to 1 role(s) that have no metadata ('gamma')" in error, error

    for name in ("Root", "TIMESTAMP"):
        body = {"role": name, "metadata": {"targets": next_targets(api, app, [name])}}
        response = rotate(api, app, body)
        assert response.status_code == 400, response.text
        assert f"{name!r} clashes with a top-level role" in response.json()["error"]

    # A role staged next to another that differs only in case ('default' is trusted).
    body = {"role": "Default", "metadata": {"targets": next_targets(api, app, ["Default"])}}
    response = rotate(api, app, body)
    assert response.status_code == 400, response.text
    assert "'default' and 'Default' differ only in letter case" in response.json()["error"]
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None

    # The one new role the rotation stages is fine: it starts as an empty version 1.
    response = rotate(
        api, app, {"role": "beta", "metadata": {"targets": next_targets(api, app, ["beta"])}}
    )
    assert response.status_code == 200, response.text
    assert api.wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"
    pending = api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]
    assert pending["metadata"]["beta"]["signed"]["version"] == 1
    assert "targets" in pending["metadata"]


def test_rotation_past_the_role_bound_is_refused(api: Api) -> None:
    app = unique_name("rot")
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    targets = next_targets(api, app, [f"r{i:05d}" for i in range(16385)])
    signer = CryptoSigner.generate_ed25519()  # never reached: refused before any check
    targets["signatures"] = [{"keyid": signer.public_key.keyid, "sig": "00"}]
    response = rotate(api, app, {"role": "r00000", "metadata": {"targets": targets}})
    assert response.status_code == 400, response.text
    assert "at most 16384 delegated roles" in response.json()["error"]
