"""`tufsync ceremony --role-key`: a bootstrap payload whose default role is offline."""

from __future__ import annotations

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Delegations, Metadata, Targets

from tufsync.keyholder.ceremony import CeremonyInput, build_payload
from tufsync.names import target_patterns

ROOT = CryptoSigner.generate_ed25519()
ONLINE = CryptoSigner.generate_ed25519().public_key
HOLDERS = [CryptoSigner.generate_ed25519() for _ in range(2)]


def _spec(**kw: object) -> CeremonyInput:
    return CeremonyInput(app="app", admin="alice", root_signers=[ROOT], root_threshold=1, **kw)  # type: ignore[arg-type]


def test_the_default_role_is_delegated_to_its_holders_who_sign_version_1() -> None:
    payload = build_payload(
        _spec(role_signers=HOLDERS[:1], extra_role_keys=[HOLDERS[1].public_key], role_threshold=1),
        ONLINE,
    )
    delegations = Delegations.from_dict(payload["settings"]["roles"]["delegations"])
    assert delegations.roles is not None
    role = delegations.roles["default"]
    assert sorted(role.keyids) == sorted(h.public_key.keyid for h in HOLDERS)
    assert ONLINE.keyid not in role.keyids and role.paths == target_patterns("alice", "app")
    v1: Metadata[Targets] = Metadata.from_dict(payload["metadata"]["default"])
    assert v1.signed.version == 1 and v1.signed.targets == {}
    delegator = Targets(delegations=delegations)
    delegator.verify_delegate("default", v1.signed_bytes, v1.signatures)  # meets the threshold


def test_a_payload_the_server_would_refuse_is_not_written() -> None:
    with pytest.raises(ValueError, match="needs 2 signature"):
        build_payload(
            _spec(
                role_signers=HOLDERS[:1], extra_role_keys=[HOLDERS[1].public_key], role_threshold=2
            ),
            ONLINE,
        )
    with pytest.raises(ValueError, match="between 1 and 1 keys"):
        build_payload(_spec(role_signers=HOLDERS[:1], role_threshold=2), ONLINE)
    with pytest.raises(ValueError, match="hash bins"):
        build_payload(_spec(role_signers=HOLDERS[:1], hash_bins=4), ONLINE)
    assert "delegations" not in build_payload(_spec(), ONLINE)["settings"]["roles"]
