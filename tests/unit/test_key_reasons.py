"""An online key that cannot be used says why (files on disk, signer URIs, key services)."""

from __future__ import annotations

from pathlib import Path

from botocore.exceptions import ClientError
from securesystemslib.exceptions import UnsupportedLibraryError
from securesystemslib.signer import CryptoSigner

from tufsync.keyholder.keyfiles import new_key_file
from tufsync.tuf.keys import URI_FIELD, OnlineKeyStore, sign_error_reason, uri_load_reason


def test_file_key_reasons(tmp_path: Path) -> None:
    store = OnlineKeyStore(tmp_path / "keys", {"alice": ["awskms:"]})
    folder = store.tenant_dir("alice", "app")
    folder.mkdir(parents=True)
    path, public = new_key_file("ed25519", tmp_path / "elsewhere")
    key = {public.keyid: public}
    assert (
        "not in the online key folder alice/app/"
        in store.problems("alice", "app", key)[public.keyid]
    )
    (folder / f"{public.keyid}.pem").write_bytes(b"not a key")
    assert (
        "is not an unencrypted PKCS8 PEM private key"
        in store.problems("alice", "app", key)[public.keyid]
    )
    other, _ = new_key_file("ed25519", tmp_path / "other")
    (folder / f"{public.keyid}.pem").write_bytes(other.read_bytes())
    assert "holds another key than" in store.problems("alice", "app", key)[public.keyid]
    (folder / f"{public.keyid}.pem").write_bytes(path.read_bytes())
    assert store.problems("alice", "app", key, probe=True) == {}
    assert store.load_signer("alice", "app", public) is not None


def test_uri_reasons(tmp_path: Path) -> None:
    store = OnlineKeyStore(tmp_path, {"alice": ["awskms:"]})
    public = CryptoSigner.generate_ecdsa().public_key
    public.unrecognized_fields[URI_FIELD] = "awskms:alias/k"
    assert (
        "not allowed for bob" in store.problems("bob", "app", {public.keyid: public})[public.keyid]
    )
    missing = uri_load_reason("awskms", public, UnsupportedLibraryError("boto3 required"))
    assert "pip install 'tufsync[awskms]'" in missing
    assert "pip install 'tufsync[vault]'" in uri_load_reason(
        "hv", public, UnsupportedLibraryError("hvac required")
    )
    assert "wrong key type" in uri_load_reason("awskms", public, KeyError("ed25519"))
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "Sign"
    )
    assert sign_error_reason(denied) == (
        "permission denied by the key service (AccessDeniedException: not authorized)"
    )
    assert sign_error_reason(PermissionError(13, "Permission denied")).startswith(
        "permission denied"
    )
