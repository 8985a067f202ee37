"""Key rules of docs/api.md §5.1/§5.5 that a hostile key holder would test.

- One public key under two keyids (an extra ``keyval`` field, or ``ecdsa`` vs
  ``ecdsa-sha2-nistp256``) is refused, so one holder never meets threshold 2
  alone: in bootstrap, root rotation and delegated rotation.
- A root key that is also an online key is refused at bootstrap and in root
  rotation (root keys never touch the server).
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Key, Signer, SSlibKey
from securesystemslib.signer._utils import compute_default_keyid
from tuf.api.metadata import Root

from tests.integration.test_tuf_signing import (
    delegated_targets,
    next_root,
    rotate,
    setup_repo,
)
from tests.support import Api, ceremony, offline_targets
from tufsync.keyholder.ceremony import create_online_key

Twin = Callable[[dict[str, Any]], dict[str, Any]]


def extra_field(key: dict[str, Any]) -> dict[str, Any]:
    twin = copy.deepcopy(key)
    twin["keyval"]["note"] = "same key, another keyid"
    return twin


def ecdsa_spelling(key: dict[str, Any]) -> dict[str, Any]:
    twin = copy.deepcopy(key)
    twin["keytype"] = "ecdsa-sha2-nistp256" if key["keytype"] == "ecdsa" else "ecdsa"
    return twin


TWINS: list[tuple[str, str, Twin]] = [
    ("ed25519-extra-keyval", "ed25519", extra_field),
    ("ecdsa-keytype-spelling", "ecdsa", ecdsa_spelling),
]


def new_signer(kind: str) -> CryptoSigner:
    return CryptoSigner.generate_ed25519() if kind == "ed25519" else CryptoSigner.generate_ecdsa()


def twin_of(key: Key, make: Twin) -> SSlibKey:
    raw = make(key.to_dict())
    keyid = compute_default_keyid(raw["keytype"], raw["scheme"], raw["keyval"])
    assert keyid != key.keyid
    return SSlibKey.from_dict(keyid, raw)


def signed_twice(signed: dict[str, Any], signer: Signer, keyids: list[str]) -> list[Any]:
    """One signature of ``signer``, presented under each of ``keyids``."""
    sig = signer.sign(encode_canonical(signed).encode()).to_dict()
    return [{**sig, "keyid": keyid} for keyid in keyids]


@pytest.mark.parametrize(("case", "kind", "make"), TWINS, ids=[t[0] for t in TWINS])
def test_bootstrap_refuses_one_key_under_two_keyids(
    api: Api, case: str, kind: str, make: Twin
) -> None:
    cer = ceremony(api.server.key_dir, api.username, "twins")
    holder = new_signer(kind)
    twin = twin_of(holder.public_key, make)
    payload = copy.deepcopy(cer.payload)
    signed = payload["metadata"]["root"]["signed"]
    for key in (holder.public_key, twin):
        signed["keys"][key.keyid] = key.to_dict()
    signed["roles"]["root"] = {"keyids": [holder.public_key.keyid, twin.keyid], "threshold": 2}
    payload["metadata"]["root"] = {
        "signed": signed,
        "signatures": signed_twice(signed, holder, [holder.public_key.keyid, twin.keyid]),
    }
    response = api.post("/tuf/v1/bootstrap", json=payload)
    assert response.status_code == 400, response.text
    assert "same public key under two keyids" in response.json()["error"]


@pytest.mark.parametrize(("case", "kind", "make"), TWINS, ids=[t[0] for t in TWINS])
def test_root_rotation_refuses_one_key_under_two_keyids(
    api: Api, case: str, kind: str, make: Twin
) -> None:
    app = f"twinrot-{kind}"
    cer, _, _ = setup_repo(api, app)
    holder = new_signer(kind)
    twin = twin_of(holder.public_key, make)

    def change(root: Root) -> None:
        for keyid in list(root.roles["root"].keyids):
            root.revoke_key(keyid, "root")
        root.add_key(holder.public_key, "root")
        root.add_key(twin, "root")
        root.roles["root"].threshold = 2

    draft = next_root(api, app, change)
    old = cer.root_signers[0]
    sigs = signed_twice(draft["signed"], holder, [holder.public_key.keyid, twin.keyid])
    sigs.append(old.sign(encode_canonical(draft["signed"]).encode()).to_dict())
    draft["signatures"] = sigs
    response = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": draft}}
    )
    assert response.status_code == 400, response.text
    assert "same public key under two keyids" in response.json()["error"]


def test_delegated_rotation_refuses_one_key_under_two_keyids(api: Api) -> None:
    app = "twindeleg"
    offline = offline_targets(api, app)
    api.bootstrap_ok(offline.payload)
    new_key = create_online_key(api.server.key_dir, api.username, app)
    twin = twin_of(new_key, extra_field)
    # Both keyids even load from the tenant's folder: only the key material tells them apart.
    folder = api.server.key_dir / api.username / app
    shutil.copy(folder / f"{new_key.keyid}.pem", folder / f"{twin.keyid}.pem")
    targets = delegated_targets(api, app, new_key.keyid, new_key.to_dict())
    signed = targets["signed"]
    signed["delegations"]["keys"][twin.keyid] = twin.to_dict()
    signed["delegations"]["roles"][0]["keyids"] = [new_key.keyid, twin.keyid]
    signed["delegations"]["roles"][0]["threshold"] = 2
    targets["signatures"] = [
        offline.targets_signer.sign(encode_canonical(signed).encode()).to_dict()
    ]
    response = rotate(api, app, {"role": "releases", "metadata": {"targets": targets}})
    assert response.status_code == 400, response.text
    assert "same public key under two keyids" in response.json()["error"]


@pytest.mark.parametrize("where", ["online-top-level", "delegated-other-keyid"])
def test_bootstrap_refuses_a_root_key_that_is_an_online_key(api: Api, where: str) -> None:
    """A key whose private key sits in the tenant's folder is also made a root key: as
    the timestamp/snapshot/targets key itself, or as a delegated role's key spelt with
    another keyid (compared by key material)."""
    app = f"rootonline-{where}"
    cer = ceremony(api.server.key_dir, api.username, app)
    payload = copy.deepcopy(cer.payload)
    signed = payload["metadata"]["root"]["signed"]
    if where == "online-top-level":
        as_root: Key = SSlibKey.from_dict(
            cer.online_keyid, copy.deepcopy(signed["keys"][cer.online_keyid])
        )
    else:
        delegated = create_online_key(api.server.key_dir, api.username, app)
        folder = api.server.key_dir / api.username / app
        spelt = twin_of(delegated, extra_field)
        shutil.copy(folder / f"{delegated.keyid}.pem", folder / f"{spelt.keyid}.pem")
        payload["settings"]["roles"]["delegations"] = {
            "keys": {spelt.keyid: spelt.to_dict()},
            "roles": [
                {
                    "name": "stable",
                    "terminating": True,
                    "keyids": [spelt.keyid],
                    "threshold": 1,
                    "paths": [f"{app}-{api.username}/stable/*/*/*"],
                }
            ],
        }
        as_root = delegated
    signed["keys"][as_root.keyid] = as_root.to_dict()
    signed["roles"]["root"]["keyids"].append(as_root.keyid)
    payload["metadata"]["root"] = {
        "signed": signed,
        "signatures": [
            s.sign(encode_canonical(signed).encode()).to_dict() for s in cer.root_signers
        ],
    }
    response = api.post("/tuf/v1/bootstrap", json=payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "root keys never touch the server" in error and as_root.keyid in error


def test_root_rotation_refuses_a_root_key_that_is_an_online_key(api: Api) -> None:
    app = "rootonline-rot"
    cer, _, _ = setup_repo(api, app)

    def change(root: Root) -> None:
        root.add_key(root.get_key(root.roles["timestamp"].keyids[0]), "root")

    draft = next_root(api, app, change)
    draft["signatures"] = [
        s.sign(encode_canonical(draft["signed"]).encode()).to_dict() for s in cer.root_signers
    ]
    response = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": draft}}
    )
    assert response.status_code == 400, response.text
    assert "root keys never touch the server" in response.json()["error"]
