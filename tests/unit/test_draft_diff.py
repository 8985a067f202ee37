"""The key holder's view of a draft: what it changes against the trusted version."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    Root,
    SuccinctRoles,
    TargetFile,
    Targets,
)

from tufsync.keyholder.draft_diff import diff_draft, draft_notes
from tufsync.tuf.drafts import RELEASE, Draft
from tufsync.tuf.signing_flow import pending_message

EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)
HOLDERS = [CryptoSigner.generate_ed25519() for _ in range(3)]
KEYIDS = sorted(h.public_key.keyid for h in HOLDERS)


def _targets(version: int, files: dict[str, bytes], **kw: Any) -> dict[str, Any]:
    md = Metadata(Targets(version=version, expires=kw.pop("expires", EXPIRES), **kw))
    for path, data in files.items():
        md.signed.targets[path] = TargetFile.from_data(path, data)
    return md.to_dict()


def _signed_by(md: dict[str, Any], *signers: CryptoSigner) -> dict[str, Any]:
    out = copy.deepcopy(md)
    payload = str(encode_canonical(out["signed"])).encode()
    out["signatures"] = [s.sign(payload).to_dict() for s in signers]
    return out


def _delegating(threshold: int, keys: list[CryptoSigner], **role: Any) -> dict[str, Any]:
    delegated = DelegatedRole(
        name="default",
        keyids=[k.public_key.keyid for k in keys],
        threshold=threshold,
        terminating=True,
        paths=role.pop("paths", ["app-alice/*"]),
    )
    delegations = Delegations(
        keys={k.public_key.keyid: k.public_key for k in keys}, roles={"default": delegated}
    )
    return _targets(3, {}, delegations=delegations)


def test_a_release_draft_lists_paths_lengths_hashes_and_the_signatures_it_still_needs() -> None:
    trusted = _targets(4, {"app-alice/a-1.0.deb": b"one", "app-alice/old.deb": b"old"})
    draft = _targets(
        5,
        {"app-alice/a-1.0.deb": b"one, rebuilt", "app-alice/a-2.0.deb": b"two!"},
        expires=EXPIRES + timedelta(days=1),
    )
    draft = _signed_by(draft, HOLDERS[0])
    delegator = _delegating(2, HOLDERS[:2])["signed"]

    diff = diff_draft("default", draft, trusted, delegator, "")

    assert (diff.trusted_version, diff.version) == (4, 5)
    assert [(t.path, t.length) for t in diff.targets_added] == [("app-alice/a-2.0.deb", 4)]
    assert (
        diff.targets_added[0].sha256
        == draft["signed"]["targets"]["app-alice/a-2.0.deb"]["hashes"]["sha256"]
    )
    assert [t.path for t in diff.targets_removed] == ["app-alice/old.deb"]
    [changed] = diff.targets_changed
    assert (changed.path, changed.old.length, changed.new.length) == ("app-alice/a-1.0.deb", 3, 12)
    assert changed.old.sha256 != changed.new.sha256
    [side] = diff.signing
    assert side.threshold == 2 and side.signed == [HOLDERS[0].public_key.keyid]
    assert not diff.complete
    assert diff.needs(HOLDERS[1].public_key.keyid)
    assert not diff.needs(HOLDERS[0].public_key.keyid)  # signed already
    assert not diff.needs(HOLDERS[2].public_key.keyid)  # not a key of the role
    lines = diff.lines()
    assert lines[0] == "version 4 -> 5"
    assert any(line.startswith("expires ") for line in lines)
    assert f"target added: {diff.targets_added[0].text()}" in lines
    assert "(3 -> 12 bytes" in " ".join(lines)
    assert "signatures 1/2" in lines[-1]
    assert diff.to_json()["complete"] is False


def test_delegation_changes_are_named_role_by_role() -> None:
    trusted = _delegating(1, HOLDERS[:1])
    draft = _delegating(2, HOLDERS[1:], paths=["app-alice/*", "app-alice/beta/*"])
    extra = DelegatedRole("beta", [], 1, True, paths=["app-alice/b/*"]).to_dict()
    draft["signed"]["delegations"]["roles"].append(extra)
    trusted_rule = copy.deepcopy(trusted["signed"]["delegations"]["roles"][0])
    trusted_rule["name"] = "gone"
    trusted["signed"]["delegations"]["roles"].append(trusted_rule)
    draft["signed"]["version"] = 4

    diff = diff_draft("targets", draft, trusted, None, "")

    assert diff.delegations_added == ["beta"] and diff.delegations_removed == ["gone"]
    [change] = diff.delegations_changed
    assert change.name == "default"
    assert change.keys_added == sorted(h.public_key.keyid for h in HOLDERS[1:])
    assert change.keys_removed == [HOLDERS[0].public_key.keyid]
    assert change.threshold == (1, 2)
    assert change.paths_added == ["app-alice/beta/*"] and change.paths_removed == []
    text = "\n".join(diff.lines())
    assert "delegation default: threshold 1 -> 2" in text
    assert "delegation default: path added app-alice/beta/*" in text
    assert diff.signing == []  # no delegator given: the threshold is not known


def test_hash_bin_delegations_compare_as_one_role() -> None:
    def with_bins(keys: list[CryptoSigner], bits: int) -> dict[str, Any]:
        succinct = SuccinctRoles([k.public_key.keyid for k in keys], 1, bits, "bins")
        delegations = Delegations(
            keys={k.public_key.keyid: k.public_key for k in keys}, succinct_roles=succinct
        )
        return _targets(2, {}, delegations=delegations)

    trusted, draft = with_bins(HOLDERS[:1], 4), with_bins(HOLDERS[1:2], 4)
    draft["signed"]["version"] = 3
    diff = diff_draft("targets", draft, trusted, None, "")
    [change] = diff.delegations_changed
    assert change.name == "bins-* (hash bins)"
    assert change.keys_added == [HOLDERS[1].public_key.keyid]
    bin_diff = diff_draft("bins-3", _targets(2, {"p": b"x"}), None, draft["signed"], "")
    assert bin_diff.trusted_version is None and bin_diff.signing[0].threshold == 1
    assert bin_diff.needs(HOLDERS[1].public_key.keyid)


def test_a_root_draft_shows_its_roles_keys_and_both_thresholds() -> None:
    old = Root(version=1, expires=EXPIRES)
    old.add_key(HOLDERS[0].public_key, "root")
    new = copy.deepcopy(old)
    new.version = 2
    new.add_key(HOLDERS[1].public_key, "root")
    new.roles["root"].threshold = 2
    draft = _signed_by(Metadata(new).to_dict(), HOLDERS[0])

    diff = diff_draft("root", draft, Metadata(old).to_dict(), None, "")

    [change] = diff.root_roles_changed
    assert change.name == "root" and change.threshold == (1, 2)
    assert change.keys_added == [HOLDERS[1].public_key.keyid]
    trusted_side, new_side = diff.signing
    assert (trusted_side.side, trusted_side.complete) == ("trusted root", True)
    assert (new_side.side, new_side.threshold, len(new_side.signed)) == ("new root", 2, 1)
    assert diff.needs(HOLDERS[1].public_key.keyid) and not diff.complete


def test_the_queue_message_gives_each_draft_its_own_sentences() -> None:
    now = datetime(2029, 12, 31, 23, 59, 30, tzinfo=UTC)  # default expires within a minute
    gone = "The {} draft changed (version {}); the signatures by [{!r}] were dropped."
    drafts = {
        "default": Draft("default", _targets(3, {}), 2, RELEASE, gone.format("default", 3, "cd")),
        "targets": Draft("targets", _targets(4, {}, expires=EXPIRES + timedelta(days=9)), 3,
                         RELEASE, gone.format("targets", 4, "ab")),
    }  # fmt: skip
    message = pending_message(drafts, now)

    notes = draft_notes("default", message)
    assert len(notes) == 2
    assert notes[0].startswith("The default draft (version 3) expires at 2030-01-01T00:00:00Z")
    assert "Make it again" in notes[0] and notes[0].endswith("sign/delete).")
    assert notes[1] == gone.format("default", 3, "cd")
    assert draft_notes("targets", message) == [gone.format("targets", 4, "ab")]
    assert draft_notes("bins-0", message) == []
    same = _targets(2, {"p": b"x"})
    unchanged = diff_draft("default", same, same, None, message)
    assert "no changes besides the version" in unchanged.lines()
    assert unchanged.lines()[-2:] == notes
