"""Online key loading raises OnlineKeyUnavailable with its reason; keys use public APIs only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner, Signer, SSlibKey

import tufsync
from tufsync.keyholder.keyfiles import new_key_file
from tufsync.tuf.errors import OnlineKeyUnavailable
from tufsync.tuf.keys import URI_FIELD, OnlineKeyStore, TenantSigner, default_keyid, key_problem
from tufsync.tuf.signing import online_signers


def test_try_load_raises_with_the_reason(tmp_path: Path) -> None:
    store = OnlineKeyStore(tmp_path / "keys")
    path, public = new_key_file("ed25519", tmp_path / "elsewhere")
    with pytest.raises(OnlineKeyUnavailable, match="not in the online key folder alice/app/"):
        store.try_load("alice", "app", public)
    assert store.load_signer("alice", "app", public) is None

    uri_key = SSlibKey.from_dict(public.keyid, public.to_dict() | {URI_FIELD: "awskms:alias/x"})
    with pytest.raises(OnlineKeyUnavailable, match=r"is not allowed for alice/app"):
        store.try_load("alice", "app", uri_key)

    folder = store.tenant_dir("alice", "app")
    folder.mkdir(parents=True)
    (folder / f"{public.keyid}.pem").write_bytes(path.read_bytes())
    signer = store.try_load("alice", "app", public)
    assert isinstance(signer, TenantSigner) and isinstance(signer, Signer)
    assert signer.public_key.keyid == public.keyid


def test_online_signers_names_each_reason(tmp_path: Path) -> None:
    from tuf.api.metadata import Root

    store = OnlineKeyStore(tmp_path / "keys")
    root = Root()
    missing = CryptoSigner.generate_ed25519().public_key
    root.add_key(missing, "timestamp")
    with pytest.raises(OnlineKeyUnavailable) as caught:
        online_signers(store, "alice", "app", root, "timestamp")
    assert f"key {missing.keyid}: not in the online key folder alice/app/" in str(caught.value)


def test_keyids_are_tufs() -> None:
    """The keyid math is TUF's (securesystemslib derives the same for a new key), and a
    key value that canonical JSON cannot encode is a reason, not a crash."""
    for signer in (
        CryptoSigner.generate_ed25519(),
        CryptoSigner.generate_ecdsa(),
        CryptoSigner.generate_rsa(),
    ):
        key = signer.public_key
        assert default_keyid(key) == key.keyid
        assert key_problem(key.keyid, key) is None
    key = CryptoSigner.generate_ed25519().public_key
    key.keyval["x-size"] = 1.5
    assert "canonical JSON cannot encode" in str(key_problem(key.keyid, key))


def test_no_private_modules_of_tuf_or_securesystemslib() -> None:
    """src uses only the public APIs of python-tuf and securesystemslib."""
    private = []
    for path in Path(tufsync.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in ("tuf", "securesystemslib") and any(
                    part.startswith("_") for part in name.split(".")[1:]
                ):
                    private.append(f"{path.name}: {name}")
    assert private == []
