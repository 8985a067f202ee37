"""The refresh schedule is re-parsed whenever the stored text is not what this
process last wrote, and lifetimes follow the config given."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.unit.test_expiry import config
from tufsync import tenant_keys
from tufsync.tuf.refresh import DAY
from tufsync.tuf.repository import Engine

WHEN = datetime(2026, 2, 1, tzinfo=UTC)


async def test_a_schedule_written_elsewhere_is_read_afresh(engine: Engine) -> None:
    repo = engine.repo("alice", "app")
    cfg = config(True, ("a", "b"))
    await repo.record_expiries({"a": WHEN, "b": WHEN}, cfg)
    key = tenant_keys.schedule(repo.ref)
    stored = json.loads(await engine.state.get(key) or "")
    # Another process (or recovery) rewrites it: role "c" added, "b" gone.
    stored["expires"] = {"a": WHEN.timestamp(), "c": WHEN.timestamp()}
    stored["lifetimes"] = {"a": 1.0, "c": 1.0}
    await engine.state.set(key, json.dumps(stored))
    await repo.record_expiries({"a": WHEN}, cfg)
    schedule = await repo.schedule()
    assert schedule is not None
    assert set(schedule.expires) == {"a", "c"}
    assert schedule.lifetimes == {"a": 30 * DAY, "c": 30 * DAY}  # from the config


async def test_lifetimes_follow_a_changed_config(engine: Engine) -> None:
    repo = engine.repo("alice", "app")
    cfg = config(True, ("a", "b"))
    await repo.record_expiries({"a": WHEN, "b": WHEN}, cfg)
    await repo.record_expiries({"a": WHEN}, cfg)  # from the cache, same config
    longer = cfg.with_expirations({"b": 9})
    await repo.record_expiries({}, longer)
    schedule = await repo.schedule()
    assert schedule is not None
    assert schedule.lifetimes == {"a": 30 * DAY, "b": 9 * DAY}
