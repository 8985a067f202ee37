"""The TUF engine without HTTP: bootstrap validation and execution, publish, removal."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from tuf.api.metadata import DelegatedRole, Delegations, Targets

from tests.support import FakeClock, ceremony, client_updater
from tufsync.state.locks import hold_lock
from tufsync.tuf.bootstrap import run_bootstrap, validate_bootstrap
from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.errors import OnlineKeyUnavailable, TufInputError
from tufsync.tuf.repository import Engine
from tufsync.tuf.targets import (
    Placement,
    TargetSpec,
    add_targets,
    remove_targets,
    role_for_target,
)

ADMIN, APP = "alice", "demo"


def spec(name: str, data: bytes) -> TargetSpec:
    import hashlib

    return TargetSpec(
        f"{APP}-{ADMIN}/default/linux/x64/{name}",
        len(data),
        {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()},
    )


async def bootstrap(engine: Engine, **kw: int) -> bytes:
    cer = ceremony(engine.keys.root, ADMIN, APP, **kw)
    plan = validate_bootstrap(ADMIN, APP, cer.payload, engine.keys, engine.clock())
    await run_bootstrap(engine.repo(ADMIN, APP), plan, "task-1")
    return cer.root_bytes


async def test_validate_produces_default_delegation(engine: Engine) -> None:
    cer = ceremony(engine.keys.root, ADMIN, APP, root_keys=3, threshold=2)
    plan = validate_bootstrap(ADMIN, APP, cer.payload, engine.keys, engine.clock())
    role = plan.delegations.roles["default"]  # type: ignore[index]
    prefix = f"{APP}-{ADMIN}/"
    assert role.paths == [prefix + "*", prefix + "*/*", prefix + "*/*/*", prefix + "*/*/*/*"]
    assert role.keyids == [cer.online_keyid]
    config = plan.config("t").to_dict()
    assert config["root_threshold"] == 2 and config["root_num_keys"] == 3


async def test_validate_refuses_key_of_another_tenant(engine: Engine) -> None:
    cer = ceremony(engine.keys.root, ADMIN, APP)
    with pytest.raises(TufInputError, match="not available to the server"):
        validate_bootstrap("mallory", APP, cer.payload, engine.keys, engine.clock())


async def test_validate_needs_own_threshold(engine: Engine) -> None:
    cer = ceremony(engine.keys.root, ADMIN, APP, root_keys=3, threshold=2)
    payload = copy.deepcopy(cer.payload)
    payload["metadata"]["root"]["signatures"] = payload["metadata"]["root"]["signatures"][:1]
    with pytest.raises(TufInputError, match="1 of 2"):
        validate_bootstrap(ADMIN, APP, payload, engine.keys, engine.clock())


async def test_bootstrap_publish_remove_verified_by_ngclient(
    engine: Engine, tmp_path: Path, clock: FakeClock
) -> None:
    root = await bootstrap(engine)
    repo = engine.repo(ADMIN, APP)
    targets = [spec("a.deb", b"a" * 10), spec("b.deb", b"b" * 20)]
    public = tmp_path / "public"
    for target, data in zip(targets, (b"a" * 10, b"b" * 20), strict=True):
        (public / target.path).parent.mkdir(parents=True, exist_ok=True)
        (public / target.path).write_bytes(data)

    async with hold_lock(engine.state, repo.lock_name) as lock:
        change = await MetadataChange.begin(repo, lock)
        placed = await add_targets(change, targets)
        result = await change.commit()
    assert set(placed.values()) == {"default"}
    assert result.versions == {"default": 2, "snapshot": 2, "timestamp": 2}

    updater = client_updater(public, ADMIN, APP, root, tmp_path / "client")
    updater.refresh()
    for target in targets:
        info = updater.get_targetinfo(target.path)
        assert info is not None
        updater.download_target(info, filepath=str(tmp_path / Path(target.path).name))

    async with hold_lock(engine.state, repo.lock_name) as lock:
        change = await MetadataChange.begin(repo, lock)
        removed = await remove_targets(change, [targets[0].path, "not/there"])
        await change.commit()
    assert removed == {targets[0].path: "default"}
    fresh = client_updater(public, ADMIN, APP, root, tmp_path / "fresh")
    fresh.refresh()
    assert fresh.get_targetinfo(targets[0].path) is None
    assert fresh.get_targetinfo(targets[1].path) is not None


async def test_commit_needs_the_online_key(engine: Engine) -> None:
    await bootstrap(engine)
    repo = engine.repo(ADMIN, APP)
    for key_file in (engine.keys.root / ADMIN / APP).iterdir():
        key_file.unlink()
    async with hold_lock(engine.state, repo.lock_name) as lock:
        change = await MetadataChange.begin(repo, lock)
        await add_targets(change, [spec("c.deb", b"c")])
        with pytest.raises(OnlineKeyUnavailable):
            await change.commit()
    repo.files.forget_all()
    trusted = await repo.trusted()
    assert trusted.timestamp.signed.version == 1


def test_role_for_target_uses_first_matching_delegation() -> None:
    delegations = Delegations(
        keys={},
        roles={
            "stable": DelegatedRole("stable", [], 1, True, paths=["app-bob/stable/*/*/*"]),
            "default": DelegatedRole("default", [], 1, True, paths=["app-bob/*/*/*/*"]),
        },
    )
    targets = Targets(delegations=delegations)
    assert role_for_target(targets, "app-bob/stable/linux/x64/app-1.deb", False) == Placement(
        "stable"
    )
    assert role_for_target(targets, "app-bob/beta/linux/x64/app-1.deb", False) == Placement(
        "default"
    )
    # '*' never crosses '/': a deeper path is not covered, and nothing falls back to targets.
    for online in (False, True):
        with pytest.raises(TufInputError, match="no delegated role's paths match"):
            role_for_target(targets, "app-bob/beta/linux/x64/extra/app-1.deb", online)


def test_legacy_default_role_is_widened_to_every_depth() -> None:
    legacy = DelegatedRole("default", [], 1, True, paths=["app-bob/*/*/*/*"])
    targets = Targets(delegations=Delegations(keys={}, roles={"default": legacy}))
    widened = ("app-bob/*", "app-bob/*/*", "app-bob/*/*/*", "app-bob/*/*/*/*")
    assert role_for_target(targets, "app-bob/app-1.deb", True) == Placement(
        "default", new_paths=widened
    )
    # Offline targets cannot be re-signed by the server; another tenant's path never matches.
    for path, online in (("app-bob/app-1.deb", False), ("app-eve/app-1.deb", True)):
        with pytest.raises(TufInputError, match="no delegated role's paths match"):
            role_for_target(targets, path, online)


def test_role_for_target_falls_back_to_faynosync_prefix_rule() -> None:
    delegations = Delegations(
        keys={},
        roles={
            "wide": DelegatedRole("wide", [], 1, False, paths=["bob/app/*", "app-bob/*"]),
            "exact": DelegatedRole("exact", [], 1, False, paths=["app-bob/*/*/*/*"]),
        },
    )
    targets = Targets(delegations=delegations)
    # A TUF match wins, even in a later role.
    assert role_for_target(targets, "app-bob/s/l/x/a.deb", True) == Placement("exact")
    # Otherwise the first role whose '<prefix>/*' covers the path, its exact path added.
    assert role_for_target(targets, "app-bob/s/a.deb", True) == Placement("wide", add_path=True)
    assert role_for_target(targets, "app-bob/a.deb", True) == Placement("wide")
    # With targets offline too: the path is then added in a targets draft.
    assert role_for_target(targets, "app-bob/s/a.deb", False) == Placement("wide", add_path=True)
    with pytest.raises(TufInputError):
        role_for_target(targets, "other/a.deb", True)


async def test_cancelled_commit_finishes_its_writes(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancellation arriving between snapshot and timestamp waits for
    the write section, so timestamp.json never points to a removed snapshot."""
    import asyncio

    from tufsync import testhooks

    root = await bootstrap(engine)
    repo = engine.repo(ADMIN, APP)
    monkeypatch.setenv(testhooks.ENV, "unit:writing=0.3")
    target = spec("c.deb", b"c")
    (tmp_path / "public" / target.path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "public" / target.path).write_bytes(b"c")

    async def publish() -> None:
        testhooks.current_task_name.set("unit")
        async with hold_lock(engine.state, repo.lock_name) as lock:
            change = await MetadataChange.begin(repo, lock)
            await add_targets(change, [target])
            await change.commit()

    task = asyncio.create_task(publish())
    await asyncio.sleep(0.1)  # inside the write section, after the first file
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    updater = client_updater(tmp_path / "public", ADMIN, APP, root, tmp_path / "client")
    updater.refresh()
    assert updater.get_targetinfo(target.path) is not None
