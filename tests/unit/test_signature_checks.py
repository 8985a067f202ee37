"""Caller signatures are judged by python-tuf's verification results, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root

from tufsync.tuf.drafts import add_signature, check_signatures, progress_of, requirements_for
from tufsync.tuf.errors import TufInputError


def rotation() -> tuple[Metadata[Root], Root, list[CryptoSigner]]:
    signers = [CryptoSigner.generate_ed25519() for _ in range(2)]
    trusted = Root(expires=datetime.now(UTC) + timedelta(days=1))
    trusted.add_key(signers[0].public_key, "root")
    draft = Metadata(Root(version=2, expires=trusted.expires))
    draft.signed.add_key(signers[1].public_key, "root")
    return draft, trusted, signers


def test_add_signature_refuses_what_does_not_verify() -> None:
    draft, trusted, (old, new) = rotation()
    reqs = requirements_for("root", draft, trusted, trusted)
    keyid = old.public_key.keyid
    for sig in ("zz", "00" * 64, 5):
        with pytest.raises(TufInputError, match=f"the signature by key {keyid} does not verify"):
            add_signature(draft, {"keyid": keyid, "sig": sig}, reqs)
    stranger = CryptoSigner.generate_ed25519()
    with pytest.raises(TufInputError, match="is not authorized to sign this draft"):
        add_signature(draft, stranger.sign(b"x").to_dict(), reqs)
    for bad in ({"keyid": ["a"], "sig": "00"}, {"sig": "00"}, {"keyid": {}, "sig": "00"}):
        with pytest.raises(TufInputError, match="must be an object with 'keyid' and 'sig'"):
            add_signature(draft, bad, reqs)
    assert draft.signatures == {}

    add_signature(draft, old.sign(draft.signed_bytes).to_dict(), reqs)
    with pytest.raises(TufInputError, match="has already signed"):
        add_signature(draft, draft.signatures[keyid].to_dict(), reqs)
    progress = progress_of(draft, reqs)
    assert [s.verified for s in progress.sides] == [True, False]
    assert progress.sides[1].missing == [new.public_key.keyid]


def test_check_signatures_names_the_key() -> None:
    draft, trusted, (old, new) = rotation()
    reqs = requirements_for("root", draft, trusted, trusted)
    draft.sign(old)
    draft.sign(new, append=True)
    check_signatures(draft, reqs, "metadata.root")
    draft.signatures[new.public_key.keyid].signature = "00" * 64
    with pytest.raises(TufInputError, match=r"^metadata.root: the signature by key .* does not"):
        check_signatures(draft, reqs, "metadata.root")
    stranger = CryptoSigner.generate_ed25519()
    draft.sign(stranger)
    with pytest.raises(TufInputError, match="is not authorized to sign this metadata"):
        check_signatures(draft, reqs, "metadata.root")
