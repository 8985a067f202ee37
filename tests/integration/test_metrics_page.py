"""The metrics page's expiry series follow the state store; the worker's health page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tufsync import tenant_keys
from tufsync.api.worker_app import create_worker_app
from tufsync.observability.metrics import Snapshot, collapse_bins, render
from tufsync.state.sqlite import SqliteStateStore
from tufsync.tuf.expiry import read_schedules
from tufsync.tuf.refresh import RefreshSchedule

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def series(page: bytes, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(sorted(s.labels.values())): s.value
        for family in text_string_to_metric_families(page.decode())
        for s in family.samples
        if s.name == name
    }


async def test_expiry_series_disappear_with_the_repository(tmp_path: Path) -> None:
    state = await SqliteStateStore.open(str(tmp_path / "state.db"))
    try:
        for app in ("one", "two"):
            schedule = RefreshSchedule(
                "alice",
                app,
                {"timestamp": (NOW + timedelta(hours=12)).timestamp()},
                {},
                {"root": (NOW + timedelta(days=3)).timestamp()},
            )
            await state.set(
                tenant_keys.schedule(tenant_keys.TenantRef("alice", app)), schedule.to_json()
            )

        async def page() -> bytes:
            snap = Snapshot(NOW, timedelta(days=30), await read_schedules(state), 0)
            return render(snap)

        first = series(await page(), "tufsync_role_expires_in_seconds")
        assert first[tuple(sorted(("alice", "one", "root", "offline")))] == 3 * 86400
        assert first[tuple(sorted(("alice", "two", "timestamp", "online")))] == 12 * 3600
        assert len(first) == 4
        warnings = series(await page(), "tufsync_offline_role_expiry_warnings")
        assert warnings == {("alice", "one"): 1, ("alice", "two"): 1}

        await state.delete(tenant_keys.schedule(tenant_keys.TenantRef("alice", "two")))
        after = series(await page(), "tufsync_role_expires_in_seconds")
        assert len(after) == 2 and all("two" not in labels for labels in after)
    finally:
        await state.close()


async def test_worker_health_fails_once_its_receiver_stopped() -> None:
    async def receive_forever() -> None:
        await asyncio.sleep(3600)

    receiver = asyncio.create_task(receive_forever())
    app = create_worker_app(None, receiver)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as http:
        assert (await http.get("/health")).json() == {"status": "healthy", "role": "worker"}
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        response = await http.get("/health")
        assert response.status_code == 503
        assert response.json()["error"] == "the task receiver has stopped"


def test_hash_bins_share_one_series_with_the_soonest_expiry() -> None:
    expires = {"timestamp": 5.0, "bins-00": 30.0, "bins-1f": 20.0, "bins-release": 9.0}
    assert collapse_bins(expires) == {"timestamp": 5.0, "bins-*": 20.0, "bins-release": 9.0}
