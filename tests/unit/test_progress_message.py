"""The signing-progress sentence, word for word in faynoSync's server's format."""

from __future__ import annotations

from tufsync.tuf.drafts import Progress, SideProgress


def test_single_threshold_form() -> None:
    progress = Progress([SideProgress("", ["k1"], ["k2", "k3"], 3)])
    assert progress.message("stable") == (
        "Invalid signature or threshold not reached: Verifying stable failed, not enough "
        "signatures, got 1, want 3 Progress: 1/3 signatures collected. 2 more signature(s) "
        "required. Signed keys: [k1]. Missing keys: [k2 k3]."
    )
    nothing = Progress([SideProgress("", [], ["k2"], 1)])
    assert nothing.message("targets").endswith(
        "Progress: 0/1 signatures collected. 1 more signature(s) required. Missing keys: [k2]."
    )


def test_root_rotation_form_leaves_out_what_faynosync_leaves_out() -> None:
    progress = Progress(
        [SideProgress("old", ["o1"], ["o2", "o3"], 2), SideProgress("new", [], ["n1", "n2"], 2)]
    )
    assert progress.message("root") == (
        "Invalid signature or threshold not reached: Verifying root failed, not enough "
        "signatures, got 1, want 2 Progress: 1/4 signatures collected (1 old + 0 new). "
        "3 more required (1 old + 2 new). Old keys signed: [o1]. Missing old keys: [o2 o3]. "
        "Missing new keys: [n1 n2]."
    )
    old_met = Progress(
        [SideProgress("old", ["o1", "o2"], ["o3"], 2), SideProgress("new", ["n1"], ["n2"], 2)]
    )
    text = old_met.message("root")
    assert "3/4 signatures collected (2 old + 1 new). 1 more required (0 old + 1 new)." in text
    assert "Old keys signed: [o1 o2]. New keys signed: [n1]. Missing new keys: [n2]." in text
    assert "Missing old keys" not in text and "got 1, want 2" in text


def test_thresholds_are_decided_by_python_tuf_verification() -> None:
    from datetime import UTC, datetime, timedelta

    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata, Root

    from tufsync.tuf.drafts import progress_of, requirements_for

    signers = [CryptoSigner.generate_ed25519() for _ in range(2)]
    trusted = Root(expires=datetime.now(UTC) + timedelta(days=1))
    for signer in signers:
        trusted.add_key(signer.public_key, "root")
    trusted.roles["root"].threshold = 2
    draft = Metadata(
        Root(version=2, expires=trusted.expires, keys=trusted.keys, roles=trusted.roles)
    )
    reqs = requirements_for("root", draft, trusted, trusted)
    assert [r.delegator for r in reqs] == [trusted, draft.signed]
    draft.sign(signers[0])
    half = progress_of(draft, reqs)
    assert not half.complete and [s.verified for s in half.sides] == [False, False]
    draft.sign(signers[1], append=True)
    assert progress_of(draft, reqs).complete
