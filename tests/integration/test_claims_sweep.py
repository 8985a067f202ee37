"""A crash between accepting a task and queueing it: claims are released, the task runs."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from tufsync import tenant_keys
from tufsync.db import queries
from tufsync.db.models import TufClaim, utcnow
from tufsync.services import Services
from tufsync.settings import Settings
from tufsync.tasks.claims import sweep_orphan_claims
from tufsync.tasks.stale import requeue_stale


async def test_sweep_keeps_claims_of_running_tasks_and_fresh_ones(tmp_path: Path) -> None:
    services = await Services.start(Settings(data_dir=tmp_path), embedded_worker=False)
    try:
        # Accepted, not yet run (PENDING): its claims stay.
        live = await services.records.create("remove_artifacts", "admin", "app", {"paths": []})
        old = utcnow() - timedelta(seconds=300)
        async with services.sessions.begin() as session:
            session.add(TufClaim(tuf_path="p/lost-old", task_id="lost-1", created_at=old))
            session.add(TufClaim(tuf_path="p/lost-new", task_id="lost-2"))
            session.add(TufClaim(tuf_path="p/live", task_id=live.task_id, created_at=old))
        assert await sweep_orphan_claims(services, min_age=120) == 1
        paths = ["p/lost-old", "p/lost-new", "p/live"]
        async with services.sessions() as session:
            assert await queries.claims_on(session, paths) == {
                "p/lost-new": "lost-2",
                "p/live": live.task_id,
            }
        assert await sweep_orphan_claims(services) == 1
        async with services.sessions() as session:
            assert await queries.claims_on(session, paths) == {"p/live": live.task_id}
    finally:
        await services.stop()


async def test_task_whose_message_was_lost_is_queued_again(tmp_path: Path) -> None:
    """A record written but never queued (process killed in between) still ends."""
    services = await Services.start(Settings(data_dir=tmp_path))
    try:
        record = await services.records.create(
            "delete_sign_metadata", "admin", "app", {"role": "root"}
        )
        assert await requeue_stale(services, min_age=60) == []  # too fresh to judge
        record.updated_at = (utcnow() - timedelta(seconds=120)).isoformat()
        await services.state.set(
            tenant_keys.task(record.task_id), json.dumps(asdict(record)), ttl=60
        )
        assert await requeue_stale(services, min_age=60) == [record.task_id]
        await services.queue.wait_idle()
        finished = await services.records.get(record.task_id)
        assert finished is not None and finished.state == "SUCCESS"
    finally:
        await services.stop()
