"""The PostgreSQL pool on a real server: idle connections are pinged (a dead one is
replaced before a request sees it), busy ones are not, and read sessions run
outside a transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.scaleout import _admin_async
from tufsync.db import engine as db_engine


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db_engine.make_engine(pg_url)
    yield engine
    await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _kill_backend(pid: int) -> None:
    await _admin_async(f"SELECT pg_terminate_backend({pid})")
    await asyncio.sleep(0.2)


async def test_idle_dead_connection_is_replaced_before_use(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = await _backend_pid(engine)
    await _kill_backend(pid)
    monkeypatch.setattr(db_engine, "PING_AFTER_IDLE", 0.0)
    assert await _backend_pid(engine) != pid


async def test_recently_used_connection_is_not_pinged(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound stated in db/engine.py: a connection used within PING_AFTER_IDLE
    seconds is handed out without a ping (here: the dead one reaches the query)."""
    pid = await _backend_pid(engine)
    await _kill_backend(pid)
    monkeypatch.setattr(db_engine, "PING_AFTER_IDLE", 3600.0)
    with pytest.raises(Exception, match=r"(?i)connection|terminat"):
        await _backend_pid(engine)
    assert await _backend_pid(engine) != pid  # the pool replaced it after the error


async def test_read_sessions_run_outside_a_transaction(engine: AsyncEngine) -> None:
    """Two statements of a read session see different clocks (autocommit), those of
    an ordinary session one transaction's start time."""
    query = text("SELECT now()")
    async with db_engine.make_read_sessionmaker(engine)() as session:
        first = (await session.execute(query)).scalar_one()
        await asyncio.sleep(0.02)
        assert (await session.execute(query)).scalar_one() != first
    async with db_engine.make_sessionmaker(engine)() as session:
        first = (await session.execute(query)).scalar_one()
        await asyncio.sleep(0.02)
        assert (await session.execute(query)).scalar_one() == first
