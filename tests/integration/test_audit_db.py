"""The audit table on SQLite and PostgreSQL: scoped pages, kept until the app is deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tufsync.db import audit, queries
from tufsync.db import engine as db_engine
from tufsync.db.models import User


@pytest.fixture(params=["sqlite", "postgresql"])
async def sessions(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = db_engine.make_engine(url)
    await db_engine.upgrade(engine)
    yield db_engine.make_sessionmaker(engine)
    await engine.dispose()


async def test_pages_scope_and_lifetime(sessions: async_sessionmaker[AsyncSession]) -> None:
    suffix = queries.new_id()[:8]
    async with sessions.begin() as session:
        alice = User(username=f"alice{suffix}", password_hash="h")
        bob = User(username=f"bob{suffix}", password_hash="h")
        session.add_all([alice, bob])
    for n in range(7):
        assert await audit.record(
            sessions, alice.username, "tool", "forced_update", task_id=f"t{n}", details={}
        )
    assert await audit.record(sessions, alice.id, "other", "recovery", actor=alice.username)
    # A write that cannot land (no such account) is reported, not raised.
    assert not await audit.record(sessions, f"ghost{suffix}", "tool", "recovery")
    async with sessions() as session:
        first, total = await audit.page(session, alice.id, "tool", 1, 3)
        last, _ = await audit.page(session, alice.id, "tool", 3, 3)
        foreign, foreign_total = await audit.page(session, bob.id, "tool", 1, 50)
    assert total == 7 and [e.task_id for e in first] == ["t6", "t5", "t4"]
    assert [e.task_id for e in last] == ["t0"]
    assert first[0].time.tzinfo is not None and first[0].actor == alice.username
    assert (foreign, foreign_total) == ([], 0)

    async with sessions.begin() as session:
        await audit.forget_app(session, alice.id, "tool")
    async with sessions() as session:
        assert (await audit.page(session, alice.id, "tool", 1, 50))[1] == 0
        assert (await audit.page(session, alice.id, "other", 1, 50))[1] == 1
    async with sessions.begin() as session:
        await session.execute(delete(User).where(User.id == alice.id))
    async with sessions() as session:
        assert (await audit.page(session, alice.id, "other", 1, 50))[1] == 0
