"""Pure key and name rules: key material comparison, the tenant-bound signer, role names."""

from __future__ import annotations

import copy

import pytest
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, SSlibKey
from securesystemslib.signer._utils import compute_default_keyid

from tufsync.names import InvalidName, check_role_name
from tufsync.tuf.keys import ForeignTargets, TenantSigner, public_material, same_key_twice


def respelt(key: SSlibKey, **changes: str) -> SSlibKey:
    raw = copy.deepcopy(key.to_dict())
    raw.update(changes)
    raw["keyval"]["comment"] = "x"
    return SSlibKey.from_dict(
        compute_default_keyid(raw["keytype"], raw["scheme"], raw["keyval"]), raw
    )


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_same_material_under_two_keyids_is_found(kind: str) -> None:
    signer = CryptoSigner.generate_ed25519() if kind == "ed25519" else CryptoSigner.generate_ecdsa()
    key = signer.public_key
    assert isinstance(key, SSlibKey)
    changes = {"keytype": "ecdsa-sha2-nistp256"} if kind == "ecdsa" else {}
    twin = respelt(key, **changes)
    assert twin.keyid != key.keyid
    assert public_material(twin) == public_material(key) is not None
    other = CryptoSigner.generate_ed25519().public_key
    assert same_key_twice({key.keyid: key, other.keyid: other}) is None
    assert same_key_twice({key.keyid: key, other.keyid: other, twin.keyid: twin}) == (
        key.keyid,
        twin.keyid,
    )


def test_unreadable_public_value_has_no_material() -> None:
    key = SSlibKey("k", "ed25519", "ed25519", {"public": "zz"})
    assert public_material(key) is None


def targets_payload(paths: list[str]) -> bytes:
    signed = {
        "_type": "targets",
        "spec_version": "1.0.31",
        "version": 2,
        "expires": "2030-01-01T00:00:00Z",
        "targets": {p: {"length": 1, "hashes": {"sha256": "00" * 32}} for p in paths},
    }
    return encode_canonical(signed).encode()


def test_tenant_signer_signs_only_the_tenants_paths() -> None:
    signer = TenantSigner(CryptoSigner.generate_ed25519(), "bob", "app")
    assert signer.sign(targets_payload(["app-bob/default/universal/any/app-1.0.deb"]))
    assert signer.sign(encode_canonical({"_type": "snapshot", "meta": {}}).encode())
    for path in (
        "app-alice/default/universal/any/app-1.0.deb",
        "app2-bob/x.deb",
        "app-bob2/x.deb",
        "app-bob/../app-alice/x.deb",
        "/app-bob/x.deb",
    ):
        with pytest.raises(ForeignTargets, match="outside 'app-bob/'"):
            signer.sign(targets_payload(["app-bob/ok.deb", path]))
    with pytest.raises(ForeignTargets):
        signer.sign(b"not json")
    # Canonical JSON leaves control characters raw; such metadata is still signed.
    raw = encode_canonical({"_type": "targets", "targets": {}, "x-note": "a\nb"}).encode()
    assert b"\n" in raw and signer.sign(raw)


@pytest.mark.parametrize("name", ["trusted_root", "trusted_", "Trusted_targets", "TRUSTED_x"])
def test_role_names_may_not_start_with_trusted(name: str) -> None:
    with pytest.raises(InvalidName, match="trusted_"):
        check_role_name(name)


def test_other_role_names_pass() -> None:
    for name in ("releases", "trusted", "untrusted_root", "trustedroot"):
        assert check_role_name(name) == name
