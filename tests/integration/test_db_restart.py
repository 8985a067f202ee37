"""A PostgreSQL restart costs no request: every pooled connection is pinged when it
is checked out, so connections the server dropped (here: every backend of the
database terminated, as a restart does) are replaced before a query sees them, on
each access path (connections, ORM and read sessions, transactions)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.scaleout import PG_ADMIN_DSN, _admin_async
from tufsync.db import engine as db_engine

POOLED = 4


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A database of this test alone: terminating its backends touches no other test."""
    name = f"tufsync_restart_{uuid.uuid4().hex[:10]}"
    await _admin_async(f'CREATE DATABASE "{name}"')
    yield name
    await _admin_async(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = db_engine.make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}")
    yield engine
    await engine.dispose()


async def _pid(engine: AsyncEngine, hold: float = 0.0) -> int:
    async with engine.connect() as conn:
        pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        await asyncio.sleep(hold)
        return pid


async def _fill_pool(engine: AsyncEngine) -> set[int]:
    """Check out ``POOLED`` connections at once and give them back (all used just now)."""
    pids = set(await asyncio.gather(*(_pid(engine, hold=0.05) for _ in range(POOLED))))
    assert len(pids) == POOLED
    return pids


async def _terminate_backends(database: str) -> None:
    """What a server restart does to the pool: every backend of ``database`` ends."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
        pids = [r["pid"] for r in await conn.fetch(query, database)]
        assert len(pids) >= POOLED
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        for _ in range(500):
            if not await conn.fetch(query, database):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"backends of {database} still running")
    finally:
        await conn.close()


def _backend_pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


async def test_every_pooled_connection_is_replaced_after_a_restart(
    engine: AsyncEngine, database: str
) -> None:
    before = await _fill_pool(engine)
    await _terminate_backends(database)
    after = set(await asyncio.gather(*(_pid(engine, hold=0.05) for _ in range(POOLED))))
    assert len(after) == POOLED and not after & before


async def test_each_access_path_works_at_once_after_a_restart(
    engine: AsyncEngine, database: str
) -> None:
    before = await _fill_pool(engine)
    await _terminate_backends(database)
    query = text("SELECT pg_backend_pid()")
    async with db_engine.make_sessionmaker(engine).begin() as session:
        assert (await session.execute(query)).scalar_one() not in before
    async with db_engine.make_read_sessionmaker(engine)() as session:
        assert (await session.execute(query)).scalar_one() not in before
    transactions = db_engine.make_transactions(engine)
    assert await transactions.run(_backend_pid) not in before
    assert await _pid(engine) not in before
