"""Which roles are watched for expiry (offline) and which are refreshed (online)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import DelegatedRole, Metadata, Targets

from tests.support import FakeClock
from tests.unit.test_engine import ADMIN, APP, bootstrap
from tufsync import tenant_keys
from tufsync.state.locks import hold_lock
from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.config import RepoConfig, RoleSettings
from tufsync.tuf.expiry import read_schedules, warnings_of
from tufsync.tuf.refresh import RefreshPolicy, RefreshSchedule
from tufsync.tuf.repository import Engine

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def config(targets_online: bool, delegated: tuple[str, ...] = ()) -> RepoConfig:
    roles = {r: RoleSettings(30, 1, 1) for r in ("root", "timestamp", "snapshot", "targets")}
    return RepoConfig(
        "t", roles, targets_online, {name: RoleSettings(30, 1, 1) for name in delegated}
    )


def test_root_and_offline_targets_are_watched_not_refreshed() -> None:
    expiries = {
        role: NOW + timedelta(days=days)
        for role, days in {"root": 10, "targets": 20, "timestamp": 1, "default": 5}.items()
    }
    schedule = RefreshSchedule(ADMIN, APP, {}).updated(expiries, config(False, ("default",)))
    assert set(schedule.offline) == {"root", "targets"}
    assert set(schedule.expires) == {"timestamp", "default"}
    assert "root" not in schedule.due_roles(NOW + timedelta(days=400), RefreshPolicy())
    soon = schedule.expiring_offline(NOW, timedelta(days=15))
    assert list(soon) == ["root"]
    again = RefreshSchedule.from_json(schedule.to_json())
    assert again == schedule

    online = RefreshSchedule(ADMIN, APP, {}).updated(expiries, config(True, ("default",)))
    assert set(online.offline) == {"root"}
    assert "targets" in online.expires


def test_a_role_that_becomes_online_leaves_the_watch_list() -> None:
    start = RefreshSchedule(ADMIN, APP, {}).updated(
        {"vendor": NOW}, config(True, ("vendor",)), frozenset({"vendor"})
    )
    assert start.offline == {"vendor": NOW.timestamp()}
    later = start.updated({"vendor": NOW + timedelta(days=1)}, config(True, ("vendor",)))
    assert later.offline == {} and "vendor" in later.expires
    # A delegated role no longer delegated is forgotten.
    gone = start.updated({}, config(True))
    assert gone.offline == {}


def test_schedules_written_before_offline_expiries_still_read() -> None:
    raw = '{"admin": "alice", "app": "demo", "expires": {"timestamp": 1.0}, "lifetimes": {}}'
    assert RefreshSchedule.from_json(raw).offline == {}


async def test_bootstrap_records_root_expiry(engine: Engine, clock: FakeClock) -> None:
    await bootstrap(engine, expirations={"root": 12})
    schedule = await engine.repo(ADMIN, APP).schedule()
    assert schedule is not None
    assert set(schedule.offline) == {"root"}
    # The ceremony dates root by the wall clock (the engine's clock is a fake one).
    assert abs(schedule.offline["root"] - (clock.now + timedelta(days=12)).timestamp()) < 120
    warnings = warnings_of(await read_schedules(engine.state), clock.now, timedelta(days=30))
    assert [(w.admin, w.app, w.role) for w in warnings] == [(ADMIN, APP, "root")]
    assert warnings_of(await read_schedules(engine.state), clock.now, timedelta(days=5)) == []


async def test_delegated_role_signed_offline_is_watched_not_refreshed(
    engine: Engine, clock: FakeClock
) -> None:
    """A delegated role whose keys the server does not hold (signed by its key holder)."""
    await bootstrap(engine)
    repo = engine.repo(ADMIN, APP)
    holder = CryptoSigner.generate_ed25519()
    vendor = Metadata(Targets(version=1, expires=clock.now + timedelta(days=20)))
    vendor.sign(holder)
    async with hold_lock(engine.state, repo.lock_name) as lock:
        change = await MetadataChange.begin(repo, lock)
        targets = await change.open("targets")
        assert targets.signed.delegations is not None
        delegations = targets.signed.delegations
        delegations.keys[holder.public_key.keyid] = holder.public_key
        assert delegations.roles is not None
        delegations.roles["vendor"] = DelegatedRole(
            "vendor", [holder.public_key.keyid], 1, True, paths=[f"{APP}-{ADMIN}/vendor/*"]
        )
        change.presigned["vendor"] = vendor
        await change.commit()
    schedule = await repo.schedule()
    assert schedule is not None
    assert set(schedule.offline) == {"root", "vendor"}
    assert "vendor" not in schedule.expires and "default" in schedule.expires
    later = clock.now + timedelta(days=19)
    assert "vendor" not in schedule.due_roles(later, RefreshPolicy())
    warnings = warnings_of([schedule], clock.now, timedelta(days=30))
    assert [(w.role, round(w.seconds_left / 86400)) for w in warnings] == [("vendor", 20)]


async def test_any_commit_fills_an_old_schedule_with_root(engine: Engine, clock: FakeClock) -> None:
    """Schedules written before offline roles were watched get root at the next refresh."""
    await bootstrap(engine, expirations={"root": 12})
    repo = engine.repo(ADMIN, APP)
    old = await repo.schedule()
    assert old is not None
    legacy = RefreshSchedule(old.admin, old.app, old.expires, old.lifetimes)
    await engine.state.set(
        tenant_keys.schedule(tenant_keys.TenantRef(ADMIN, APP)), legacy.to_json()
    )
    async with hold_lock(engine.state, repo.lock_name) as lock:
        change = await MetadataChange.begin(repo, lock)  # a timestamp-only refresh
        await change.commit()
    schedule = await repo.schedule()
    assert schedule is not None and set(schedule.offline) == {"root"}
    assert schedule.offline["root"] == old.offline["root"]
