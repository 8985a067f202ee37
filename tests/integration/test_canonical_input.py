"""TUF payloads that canonical JSON cannot encode are a 400 with a sentence.

What the server signs is exactly what securesystemslib / python-tuf sign: the
canonical JSON of ``signed`` (TUF specification §4.2), which has no fractional
numbers. A float anywhere in caller metadata (a delegated role's or a key's
extra field, a key value, root's ``signed``) would otherwise be signed as
``1.5`` by one encoder and be unverifiable by every client; it is refused where
the payload enters, naming where it is. Metadata with whole-number extra
fields bootstraps and an ngclient refresh verifies it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_tuf_signing import delegated_targets, next_root, rotate
from tests.support import Api, Ceremony, ceremony, client_updater, offline_targets, unique_name
from tufsync.keyholder.ceremony import create_online_key

Change = Callable[[Api, str, Ceremony, dict[str, Any]], None]


def delegations(api: Api, app: str, cer: Ceremony) -> dict[str, Any]:
    keyid = cer.online_keyid
    key = copy.deepcopy(cer.payload["metadata"]["root"]["signed"]["keys"][keyid])
    role = {
        "name": "stable",
        "terminating": True,
        "keyids": [keyid],
        "threshold": 1,
        "paths": [f"{app}-{api.username}/stable/*"],
    }
    return {"keys": {keyid: key}, "roles": [role]}


def with_delegations(change: Callable[[dict[str, Any]], None]) -> Change:
    def apply(api: Api, app: str, cer: Ceremony, payload: dict[str, Any]) -> None:
        found = delegations(api, app, cer)
        change(found)
        payload["settings"]["roles"]["delegations"] = found

    return apply


def root_keyval(api: Api, app: str, cer: Ceremony, payload: dict[str, Any]) -> None:
    keys = payload["metadata"]["root"]["signed"]["keys"]
    keys[cer.online_keyid]["keyval"]["x-size"] = 2.0


def root_signed(api: Api, app: str, cer: Ceremony, payload: dict[str, Any]) -> None:
    payload["metadata"]["root"]["signed"]["x-weight"] = 1e3


CASES: list[tuple[str, Change, str]] = [
    (
        "delegated role extra field",
        with_delegations(lambda d: d["roles"][0].update({"x-weight": 1.5})),
        "settings.roles.delegations.roles[0].x-weight is the number 1.5",
    ),
    (
        "delegated key extra field",
        with_delegations(lambda d: next(iter(d["keys"].values())).update({"x-rank": 0.25})),
        "x-rank is the number 0.25",
    ),
    (
        "delegated key keyval",
        with_delegations(lambda d: next(iter(d["keys"].values()))["keyval"].update({"n": -7.5})),
        "keyval.n is the number -7.5",
    ),
    ("root key keyval", root_keyval, "metadata.root.signed.keys."),
    ("root signed", root_signed, "metadata.root.signed.x-weight is the number 1000.0"),
]


@pytest.mark.parametrize(("label", "change", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bootstrap_with_a_float_is_400(api: Api, label: str, change: Change, fragment: str) -> None:
    app = unique_name("f")
    cer = ceremony(api.server.key_dir, api.username, app)
    payload = copy.deepcopy(cer.payload)
    change(api, app, cer, payload)
    response = api.post("/tuf/v1/bootstrap", json=payload)
    assert response.status_code == 400, f"{label}: {response.status_code} {response.text}"
    error = response.json()["error"]
    assert fragment in error and "canonical JSON" in error, error
    status = api.get("/tuf/v1/bootstrap", params={"appName": app}).json()["data"]
    assert status["bootstrap"] is False and status["id"] == ""


def test_root_rotation_with_a_float_is_400(api: Api) -> None:
    app = unique_name("f")
    cer = ceremony(api.server.key_dir, api.username, app, root_keys=2, threshold=2)
    api.bootstrap_ok(cer.payload)
    draft = next_root(api, app, lambda root: root.unrecognized_fields.update({"x-w": 0.5}))
    response = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": draft}}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["message"] == "Metadata Update Failed"
    assert "metadata.root.signed.x-w is the number 0.5" in body["error"], body
    assert api.get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"] is None

    # A signature carrying a float is refused too (a draft awaits signatures here).
    plain = next_root(api, app, lambda root: None)
    response = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": plain}}
    )
    assert response.status_code == 200, response.text
    signature = {"keyid": cer.root_signers[0].public_key.keyid, "sig": "00", "x-t": 1.25}
    response = api.post(
        "/tuf/v1/metadata/sign",
        params={"appName": app},
        json={"role": "root", "signature": signature},
    )
    assert response.status_code == 400, response.text
    assert "signature.x-t is the number 1.25" in response.json()["error"]


def test_delegated_rotation_with_a_float_is_400(api: Api) -> None:
    app = unique_name("f")
    offline = offline_targets(api, app)
    api.bootstrap_ok(offline.payload)
    new_key = create_online_key(api.server.key_dir, api.username, app)
    targets = delegated_targets(api, app, new_key.keyid, new_key.to_dict())
    targets["signed"]["delegations"]["roles"][0]["x-weight"] = 3.5
    response = rotate(api, app, {"role": "releases", "metadata": {"targets": targets}})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["message"] == "Metadata Update Failed"
    assert (
        "metadata.targets.signed.delegations.roles[0].x-weight is the number 3.5" in (body["error"])
    )


def test_whole_number_extra_fields_bootstrap_and_verify(api: Api, tmp_path: Path) -> None:
    """Extra fields that canonical JSON encodes (whole numbers, however large; unicode)
    are signed as python-tuf signs them: ngclient refreshes and walks the delegation."""
    app = unique_name("f")
    cer = ceremony(api.server.key_dir, api.username, app)
    payload = copy.deepcopy(cer.payload)
    found = delegations(api, app, cer)
    found["roles"][0]["x-weight"] = 2**70
    found["roles"][0]["x-label"] = "stäble ✓\n"
    next(iter(found["keys"].values()))["x-rank"] = -3
    payload["settings"]["roles"]["delegations"] = found
    api.bootstrap_ok(payload)
    updater = client_updater(
        api.server.public_dir, api.username, app, cer.root_bytes, tmp_path / "client"
    )
    updater.refresh()
    # Looking a path up under the delegation downloads and verifies stable.json.
    assert updater.get_targetinfo(f"{app}-{api.username}/stable/none.deb") is None
    meta = tmp_path / "client" / "meta"
    assert (meta / "stable.json").is_file()
    assert '"x-weight":1180591620717411303424' in (meta / "targets.json").read_text("utf-8")
