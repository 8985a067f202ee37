"""publish_root (the root rotation task and the finalize of the signing flow) refuses a
root under which the published offline targets stops verifying (TUF specification
§5.3.11); the rule holds once targets is signed by its new keys, and never binds an
online targets (the server re-signs it with the root)."""

from __future__ import annotations

import copy

import pytest
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Root, Targets

from tests.support import ceremony
from tufsync.names import target_patterns
from tufsync.state.locks import hold_lock
from tufsync.tuf.bootstrap import run_bootstrap, validate_bootstrap
from tufsync.tuf.repository import Engine
from tufsync.tuf.rotation import (
    TargetsNotSignedForRoot,
    publish_root,
    require_top_level_verifies,
)

ADMIN, APP = "alice", "offline"


async def offline_bootstrap(engine: Engine) -> tuple[Metadata[Root], list[Signer], Signer]:
    """Bootstrap with an offline targets key; the root, its signers, the targets signer."""
    cer = ceremony(engine.keys.root, ADMIN, APP)
    offline = CryptoSigner.generate_ed25519()
    payload = copy.deepcopy(cer.payload)
    root = Metadata[Root].from_dict(copy.deepcopy(payload["metadata"]["root"]))
    root.signed.revoke_key(cer.online_keyid, "targets")
    root.signed.add_key(offline.public_key, "targets")
    root.signatures.clear()
    for signer in cer.root_signers:
        root.sign(signer, append=True)
    releases = DelegatedRole("releases", [cer.online_keyid], 1, True, target_patterns(ADMIN, APP))
    delegations = Delegations(
        keys={cer.online_keyid: root.signed.keys[cer.online_keyid]}, roles={"releases": releases}
    )
    targets = Metadata(Targets(version=1, expires=root.signed.expires, delegations=delegations))
    targets.sign(offline)
    payload["metadata"] = {"root": root.to_dict(), "targets": targets.to_dict()}
    payload["settings"]["roles"]["targets"]["online_key"] = False
    plan = validate_bootstrap(ADMIN, APP, payload, engine.keys, engine.clock())
    await run_bootstrap(engine.repo(ADMIN, APP), plan, "task-1")
    return root, cer.root_signers, offline


async def test_publish_root_refuses_a_root_the_published_targets_fails(engine: Engine) -> None:
    root, root_signers, offline = await offline_bootstrap(engine)
    repo = engine.repo(ADMIN, APP)
    new_key = CryptoSigner.generate_ed25519()
    new_root = copy.deepcopy(root)
    new_root.signed.version = 2
    new_root.signed.revoke_key(offline.public_key.keyid, "targets")
    new_root.signed.add_key(new_key.public_key, "targets")
    new_root.signatures.clear()
    for signer in root_signers:
        new_root.sign(signer, append=True)

    async with hold_lock(engine.state, repo.lock_name) as lock:
        with pytest.raises(TargetsNotSignedForRoot, match="carries 0 of the 1 signatures"):
            await publish_root(repo, new_root, lock)
    repo.files.forget_all()
    trusted = await repo.trusted()
    assert trusted.root.signed.version == 1

    # The same root under which targets verifies: the online-targets case never refuses,
    # and a targets signed by the new key passes.
    require_top_level_verifies(new_root.signed, trusted.targets, True)
    trusted.targets.sign(new_key)
    require_top_level_verifies(new_root.signed, trusted.targets, False)
