"""Finalizing (the ``sign_metadata`` task) never publishes a draft that expired.

Signing checks expiry when a signature arrives; the task that publishes runs
later, so it checks again with the same minute's margin (TUF specification
§5.3.10 and §5.6.5: a client refuses expired root and targets metadata).
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from tuf.api.metadata import Metadata, Root, Targets

from tests.support import FakeClock, ceremony
from tufsync.state.locks import hold_lock
from tufsync.tuf.bootstrap import run_bootstrap, validate_bootstrap
from tufsync.tuf.drafts import Draft, DraftExpired, DraftStore
from tufsync.tuf.repository import Engine, Repository
from tufsync.tuf.signing_flow import finalize, pending, pending_message

ADMIN, APP = "alice", "demo"


async def bootstrapped(engine: Engine) -> tuple[Repository, Any]:
    cer = ceremony(engine.keys.root, ADMIN, APP)
    plan = validate_bootstrap(ADMIN, APP, cer.payload, engine.keys, engine.clock())
    repo = engine.repo(ADMIN, APP)
    await run_bootstrap(repo, plan, "task-1")
    return repo, cer


async def finalize_now(repo: Repository, role: str) -> Any:
    config = await repo.require_config()
    async with hold_lock(repo.state, repo.lock_name) as lock:
        return await finalize(repo, config, role, lock)


async def test_expired_root_draft_is_refused_and_kept(engine: Engine, clock: FakeClock) -> None:
    repo, cer = await bootstrapped(engine)
    trusted = await repo.trusted()
    md = Metadata[Root].from_dict(copy.deepcopy(trusted.root.to_dict()))
    md.signed.version = 2
    md.signed.expires = clock.now + timedelta(days=1)
    md.signatures.clear()
    md.sign(cer.root_signers[0])  # both thresholds (1 of 1) are met
    await DraftStore(repo).save(Draft("root", md.to_dict(), 1))

    clock.advance(days=1, seconds=-30)  # 30 seconds left: inside the margin
    with pytest.raises(DraftExpired, match=r"^The root draft \(version 2\) expires at .*minute"):
        await finalize_now(repo, "root")
    assert await repo.files.read_bytes("2.root.json") is None
    assert await DraftStore(repo).get("root") is not None  # kept, so the queue says why
    config = await repo.require_config()
    assert "expires at" in pending_message(await pending(repo, config), clock())

    clock.advance(minutes=5)
    with pytest.raises(DraftExpired, match="expired at"):
        await finalize_now(repo, "root")
    assert (await repo.trusted()).root.signed.version == 1


async def test_unexpired_root_draft_is_published(engine: Engine, clock: FakeClock) -> None:
    repo, cer = await bootstrapped(engine)
    trusted = await repo.trusted()
    md = Metadata[Root].from_dict(copy.deepcopy(trusted.root.to_dict()))
    md.signed.version = 2
    md.signed.expires = clock.now + timedelta(minutes=2)
    md.signatures.clear()
    md.sign(cer.root_signers[0])
    await DraftStore(repo).save(Draft("root", md.to_dict(), 1))
    assert await finalize_now(repo, "root") == {"root": 2}
    assert await DraftStore(repo).get("root") is None


async def test_expired_delegated_draft_is_refused(engine: Engine, clock: FakeClock) -> None:
    repo, cer = await bootstrapped(engine)
    trusted = await repo.trusted()
    online = trusted.root.signed.get_key(cer.online_keyid)
    md = Metadata(Targets(version=2, expires=clock.now + timedelta(hours=1)))
    md.sign(engine.keys.try_load(ADMIN, APP, online))  # the role's own threshold is met
    await DraftStore(repo).save(Draft("default", md.to_dict(), 1))

    clock.advance(hours=2)
    with pytest.raises(DraftExpired, match=r"^The default draft \(version 2\) expired at "):
        await finalize_now(repo, "default")
    assert await repo.files.read_bytes("2.default.json") is None
    assert "delegated/rotate" in pending_message(
        await pending(repo, await repo.require_config()), clock()
    )
