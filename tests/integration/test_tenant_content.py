"""What a tenant may make the server sign, and which role names it may use.

- The server never signs, with its online keys, targets or delegated metadata
  listing a target path outside the tenant's ``<app>-<admin>/`` (docs/api.md §5.1).
- A delegated role name may not start with ``trusted_`` (docs/api.md §5.5): 400
  wherever a role is named, so no draft can pose as ``trusted_root``.
"""

from __future__ import annotations

import copy
from typing import Any

from securesystemslib.formats import encode_canonical

from tests.integration.test_tuf_signing import delegated_targets, rotate, setup_repo
from tests.support import Api, ceremony, offline_targets, unique_name
from tufsync.keyholder.ceremony import create_online_key

FILEINFO = {"length": 3, "hashes": {"sha256": "ab" * 32}}
TRUSTED_NAME = "may not start with 'trusted_'"


def current(api: Api, app: str, role: str) -> dict[str, Any]:
    if role == "targets":
        data = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
        return dict(data["trusted_targets"])
    params = {"appName": app, "roleName": role}
    return dict(
        api.get("/tuf/v1/metadata/delegated", params=params).json()["data"]["trusted_delegated"]
    )


def next_version(api: Api, app: str, role: str, paths: list[str]) -> dict[str, Any]:
    md = copy.deepcopy(current(api, app, role))
    md["signed"]["version"] += 1
    md["signed"]["targets"].update({path: FILEINFO for path in paths})
    return {"signed": md["signed"], "signatures": []}


def test_server_never_signs_targets_paths_of_another_tenant(api: Api) -> None:
    """Targets is online: a delegated rotation carrying a new targets (or a new version
    of the delegated role) that lists another tenant's path is refused, and nothing of it
    is published."""
    app = "confined"
    setup_repo(api, app)
    before = {role: current(api, app, role) for role in ("targets", "default")}
    victim = f"{app}-{unique_name('victim')}/default/universal/any/{app}-1.0.deb"
    sibling = f"{app}2-{api.username}/default/universal/any/{app}2-1.0.deb"
    escape = f"{app}-{api.username}/../{app}-victim/x.deb"
    for role in ("targets", "default"):
        for path in (victim, sibling, escape):
            body = {"role": "default", "metadata": {role: next_version(api, app, role, [path])}}
            response = rotate(api, app, body)
            assert response.status_code == 400, (role, path, response.text)
            assert "outside" in response.json()["error"]
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None
    assert {role: current(api, app, role) for role in ("targets", "default")} == before

    # The tenant's own paths are still signed.
    own = f"{app}-{api.username}/default/universal/any/{app}-9.9.deb"
    body = {"role": "default", "metadata": {"default": next_version(api, app, "default", [own])}}
    response = rotate(api, app, body)
    assert response.status_code == 200, response.text
    assert api.wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"


def test_role_names_starting_with_trusted_are_refused(api: Api) -> None:
    # Bootstrap delegations.
    app = "trustedname"
    cer = ceremony(api.server.key_dir, api.username, app)
    payload = copy.deepcopy(cer.payload)
    key = payload["metadata"]["root"]["signed"]["keys"][cer.online_keyid]
    for name in ("trusted_root", "Trusted_targets"):
        payload["settings"]["roles"]["delegations"] = {
            "keys": {cer.online_keyid: key},
            "roles": [
                {
                    "name": name,
                    "terminating": True,
                    "keyids": [cer.online_keyid],
                    "threshold": 1,
                    "paths": [f"{app}-{api.username}/*/*/*/*"],
                }
            ],
        }
        response = api.post("/tuf/v1/bootstrap", json=payload)
        assert response.status_code == 400, response.text
        assert TRUSTED_NAME in response.json()["error"]

    # Delegated rotation adding a role named trusted_root (targets offline).
    app = "trustedrot"
    offline = offline_targets(api, app)
    api.bootstrap_ok(offline.payload)
    new_key = create_online_key(api.server.key_dir, api.username, app)
    targets = delegated_targets(api, app, new_key.keyid, new_key.to_dict())
    releases = targets["signed"]["delegations"]["roles"][0]
    targets["signed"]["delegations"]["roles"].append(
        {**releases, "name": "trusted_root", "keyids": [new_key.keyid]}
    )
    targets["signatures"] = [
        offline.targets_signer.sign(encode_canonical(targets["signed"]).encode()).to_dict()
    ]
    for role in ("trusted_root", "releases"):
        response = rotate(api, app, {"role": role, "metadata": {"targets": targets}})
        assert response.status_code == 400, response.text
        assert TRUSTED_NAME in response.json()["error"]
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None

    # Every other route naming a role.
    params = {"appName": app}
    signature = {"keyid": new_key.keyid, "sig": "00"}
    answers = [
        api.get("/tuf/v1/metadata/delegated", params={**params, "roleName": "trusted_root"}),
        api.post(
            "/tuf/v1/metadata/sign",
            params=params,
            json={"role": "trusted_root", "signature": signature},
        ),
        api.post("/tuf/v1/metadata/sign/delete", params=params, json={"role": "trusted_root"}),
    ]
    for response in answers:
        assert response.status_code == 400, response.text
        assert TRUSTED_NAME in response.json()["error"]
