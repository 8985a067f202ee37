"""Automatic refresh: 30 simulated days, an ngclient refreshing daily never sees expiry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import FakeClock, ceremony, client_updater
from tufsync import tenant_keys
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.tasks.scheduler import refresh_pass
from tufsync.tasks.submit import submit_task
from tufsync.tuf.refresh import RefreshPolicy

ADMIN, APP = "alice", "daily"


@pytest.fixture
async def services(tmp_path: Path, clock: FakeClock) -> Services:
    settings = Settings(data_dir=tmp_path / "data", refresh_interval_seconds=3600)
    started = await Services.start(settings, clock=clock)
    yield started  # type: ignore[misc]
    await started.stop()


def version_of(public: Path, role: str) -> int:
    folder = public / "tuf_metadata" / ADMIN / APP
    return max(int(p.name.split(".")[0]) for p in folder.glob(f"*.{role}.json"))


async def test_thirty_days_of_refresh(services: Services, clock: FakeClock, tmp_path: Path) -> None:
    keys_dir = services.settings.resolved_online_key_dir
    cer = ceremony(keys_dir, ADMIN, APP, expirations={"timestamp": 1, "snapshot": 7})
    await services.state.set(tenant_keys.bootstrap(tenant_keys.TenantRef(ADMIN, APP)), "pre-x")
    await submit_task(services, "bootstrap", ADMIN, APP, {"payload": cer.payload}, task_id="x")
    await services.queue.wait_idle()
    public = services.settings.resolved_data_dir / "public"
    assert (public / "tuf_metadata" / ADMIN / APP / "timestamp.json").exists()

    nothing = await refresh_pass(services, clock())
    assert (nothing.repositories, nothing.due, nothing.queued) == (1, 0, 0)

    for _day in range(30):
        clock.advance(days=1)
        report = await refresh_pass(services, clock())
        # A second pass before the task ran queues nothing more.
        again = await refresh_pass(services, clock())
        assert again.queued == 0
        assert report.queued == 1
        await services.queue.wait_idle()
        updater = client_updater(public, ADMIN, APP, cer.root_bytes, tmp_path / "client")
        updater._trusted_set.reference_time = clock()  # the client lives in simulated time
        updater.refresh()  # raises ExpiredMetadataError if anything lapsed

    ts = json.loads((public / "tuf_metadata" / ADMIN / APP / "timestamp.json").read_bytes())
    assert ts["signed"]["version"] == 31  # once a day, never more
    # Snapshot lives 7 days and is refreshed with half its life left: every 4 days.
    assert version_of(public, "snapshot") == 1 + 30 // 4
    assert version_of(public, "targets") == 1
    assert version_of(public, "default") == 1


def test_policy_margins() -> None:
    policy = RefreshPolicy()
    day = 86400.0
    assert policy.margin(day) == day / 2
    assert policy.margin(365 * day) == 365 * day / 2
    assert policy.is_due(expires=1000.0 + day / 2, lifetime=day, now=1000.0)
    assert not policy.is_due(expires=1000.0 + day, lifetime=day, now=1000.0)
