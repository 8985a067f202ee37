"""Scans of the state store never trip over tenant-chosen names (docs/design.md invariant 7).

A delegated role named ``repo`` used to make its draft look like a refresh schedule
(every refresh pass then failed, for every repository), and one named ``task`` like a
task record (the next start-up failed). Now tenant text never lands in a scanned key
space, and a scan skips and logs any entry it cannot read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import FakeClock, ceremony
from tufsync import tenant_keys
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.tasks.scheduler import refresh_pass
from tufsync.tasks.submit import submit_task
from tufsync.tenant_keys import TenantRef
from tufsync.tuf.drafts import Draft, DraftStore

VICTIM = TenantRef("victim", "daily")
HOSTILE = TenantRef("hostile", "app")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", refresh_interval_seconds=3600)


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    started = await Services.start(settings, clock=clock)
    yield started
    await started.stop()


def timestamp_version(services: Services) -> int:
    public = services.settings.resolved_data_dir / "public"
    path = public / tenant_keys.metadata_prefix(VICTIM) / "timestamp.json"
    return int(json.loads(path.read_bytes())["signed"]["version"])


async def bootstrap_victim(services: Services) -> None:
    keys_dir = services.settings.resolved_online_key_dir
    cer = ceremony(keys_dir, VICTIM.admin, VICTIM.app, expirations={"timestamp": 1})
    await services.state.set(tenant_keys.bootstrap(VICTIM), "pre-x")
    await submit_task(
        services, "bootstrap", VICTIM.admin, VICTIM.app, {"payload": cer.payload}, task_id="x"
    )
    await services.queue.wait_idle()


async def test_roles_named_repo_and_task_stop_neither_refresh_nor_start_up(
    settings: Settings, clock: FakeClock
) -> None:
    services = await Services.start(settings, clock=clock)
    try:
        await bootstrap_victim(services)
        drafts = DraftStore(services.tuf.repo(HOSTILE.admin, HOSTILE.app))
        for role in ("repo", "task", "REPO", "Task", "schedule"):
            assert await drafts.create(Draft(role, {"signed": {"_type": "targets"}}, 1))
        clock.advance(days=1)
        report = await refresh_pass(services, clock())
        assert (report.repositories, report.queued) == (1, 1)
        await services.queue.wait_idle()
        assert timestamp_version(services) == 2
    finally:
        await services.stop()

    restarted = await Services.start(settings, clock=clock)
    try:
        repo = restarted.tuf.repo(HOSTILE.admin, HOSTILE.app)
        assert (await DraftStore(repo).get("task")) is not None
        clock.advance(days=1)
        assert (await refresh_pass(restarted, clock())).queued == 1
        await restarted.queue.wait_idle()
        assert timestamp_version(restarted) == 3
    finally:
        await restarted.stop()


async def test_scans_skip_and_log_entries_they_cannot_read(
    services: Services, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await bootstrap_victim(services)
    state = services.state
    await state.set(tenant_keys.schedule(HOSTILE), "not json")
    await state.set(tenant_keys.schedule(TenantRef("other", "app")), json.dumps({"admin": "x"}))
    await state.set(tenant_keys.SCHEDULE_PREFIX + "no-separator", "{}")
    await state.set(tenant_keys.task("bogus"), json.dumps({"task_id": "bogus"}))
    await state.set(tenant_keys.TASK_PREFIX + "a:b", "[]")

    clock.advance(days=1)
    with caplog.at_level(logging.WARNING):
        report = await refresh_pass(services, clock())
        await services.queue.wait_idle()
        unfinished = await services.records.unfinished()
    assert report.queued == 1
    assert timestamp_version(services) == 2
    assert unfinished == []
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 5, skipped
