"""The daily expiry warning on both state stores: one line per role per day, across processes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tufsync import tenant_keys
from tufsync.settings import Settings
from tufsync.state import StateStore, open_state_store
from tufsync.tasks.expiry_watch import warn_expiring
from tufsync.tuf.refresh import RefreshSchedule

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("redis_db")
    state = await open_state_store(url)
    yield state
    await state.close()


def services(state: StateStore, days: int = 30) -> Any:
    return SimpleNamespace(settings=Settings(expiry_warning_days=days), state=state)


async def put(state: StateStore, admin: str, app: str, offline: dict[str, float]) -> None:
    stamps = {role: (NOW + timedelta(days=d)).timestamp() for role, d in offline.items()}
    schedule = RefreshSchedule(admin, app, {"timestamp": NOW.timestamp()}, {}, stamps)
    await state.set(tenant_keys.schedule(tenant_keys.TenantRef(admin, app)), schedule.to_json())


async def test_each_expiring_role_is_logged_once_a_day(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    await put(store, "alice", "desk", {"root": 3, "targets": 100})
    await put(store, "alice", "cli", {"root": -1})
    await put(store, "bob", "desk", {"root": 29.5, "vendor": 10})
    await store.set(f"{tenant_keys.SCHEDULE_PREFIX}broken", "{not json")
    caplog.set_level(logging.WARNING, logger="tufsync.expiry")
    # Two processes (two service objects) on one store: still one line per role.
    first = await warn_expiring(services(store), NOW)
    second = await warn_expiring(services(store), NOW)
    assert (first, second) == (4, 0)
    lines = [r for r in caplog.records if r.name == "tufsync.expiry"]
    assert sorted((r.fields["admin"], r.fields["app"], r.fields["role"]) for r in lines) == [  # type: ignore[attr-defined]
        ("alice", "cli", "root"),
        ("alice", "desk", "root"),
        ("bob", "desk", "root"),
        ("bob", "desk", "vendor"),
    ]
    expired = next(r for r in lines if r.fields["app"] == "cli")  # type: ignore[attr-defined]
    assert "expired on" in expired.getMessage()
    assert any("unreadable expiry schedule" in r.getMessage() for r in caplog.records)
    # A day later, the markers have expired (simulated by removing them): logged again.
    await store.delete(tenant_keys.expiry_warned(tenant_keys.TenantRef("alice", "desk"), "root"))
    assert await warn_expiring(services(store), NOW + timedelta(days=1)) == 1


async def test_horizon_is_a_setting(store: StateStore) -> None:
    await put(store, "carol", "app", {"root": 10})
    assert await warn_expiring(services(store, days=5), NOW) == 0
    assert await warn_expiring(services(store, days=11), NOW) == 1


async def test_each_line_says_whether_a_renewing_draft_is_pending(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    await put(store, "dave", "desk", {"vendor": 3, "default": 4})
    await store.set(tenant_keys.draft(tenant_keys.TenantRef("dave", "desk"), "vendor"), "{}")
    caplog.set_level(logging.WARNING, logger="tufsync.expiry")
    assert await warn_expiring(services(store), NOW) == 2
    lines = {r.fields["role"]: r for r in caplog.records if r.name == "tufsync.expiry"}  # type: ignore[attr-defined]
    assert lines["vendor"].fields["renewal_pending"] is True  # type: ignore[attr-defined]
    assert "awaits its key holders' signatures" in lines["vendor"].getMessage()
    assert lines["default"].fields["renewal_pending"] is False  # type: ignore[attr-defined]
