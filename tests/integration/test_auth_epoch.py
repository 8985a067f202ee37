"""The auth epoch moves with every change to who may sign in, whoever makes it
(SQLite: the row the triggers bump; PostgreSQL: NOTIFY to a listening connection),
and never with a token's last-use write; a PostgreSQL listener that is down means
no cache at all."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.scaleout import _admin
from tufsync.auth.epoch import LISTENER_NAME, AuthEpoch, PostgresEpoch, open_epoch
from tufsync.db import engine as db_engine

SEED = [
    "INSERT INTO users (id, username, password_hash, token_generation) "
    "VALUES (1, 'alice', 'h', 'g1')",
    "INSERT INTO apps (id, owner_id, name) VALUES ('app1', 1, 'web')",
    "INSERT INTO api_tokens (id, owner_id, name, token_hash, token_prefix, allowed_apps) "
    "VALUES ('t1', 1, 'ci', 'digest', 'fns_0000', '[\"app1\"]')",
]


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    name = f"tufsync_epoch_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tufsync.db'}"
        return
    async with postgres_database() as url:
        yield url


async def run(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as conn:
        for sql in statements:
            await conn.execute(text(sql))


async def settle(epoch: AuthEpoch, check: Callable[[int | None], bool]) -> int | None:
    """The epoch once ``check`` holds (notifications arrive asynchronously)."""
    deadline = time.monotonic() + 5
    while True:
        value = epoch.current()
        if check(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.01)


async def changes(epoch: AuthEpoch, engine: AsyncEngine, sql: str) -> bool:
    before = await settle(epoch, lambda v: v is not None)
    assert before is not None
    await run(engine, sql)
    after = await settle(epoch, lambda v: v != before)
    return after != before


@pytest.fixture
async def migrated(database: str) -> AsyncIterator[tuple[AsyncEngine, AuthEpoch]]:
    engine = db_engine.make_engine(database)
    await db_engine.upgrade(engine)
    await run(engine, *SEED)
    epoch = open_epoch(database)
    try:
        yield engine, epoch
    finally:
        await epoch.close()
        await engine.dispose()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE users SET token_generation = 'g2' WHERE id = 1",
        "UPDATE users SET password_hash = 'h2' WHERE id = 1",
        "UPDATE users SET username = 'alicia' WHERE id = 1",
        "DELETE FROM api_tokens WHERE id = 't1'",
        "UPDATE api_tokens SET allowed_apps = '[]' WHERE id = 't1'",
        "UPDATE api_tokens SET expires_at = CURRENT_TIMESTAMP WHERE id = 't1'",
        "UPDATE apps SET name = 'web2' WHERE id = 'app1'",
        "DELETE FROM apps WHERE id = 'app1'",
        "DELETE FROM users WHERE id = 1",
    ],
)
async def test_every_auth_change_moves_the_epoch(
    migrated: tuple[AsyncEngine, AuthEpoch], sql: str
) -> None:
    engine, epoch = migrated
    assert await changes(epoch, engine, sql)


async def test_last_use_and_unrelated_writes_keep_the_epoch(
    migrated: tuple[AsyncEngine, AuthEpoch],
) -> None:
    engine, epoch = migrated
    before = await settle(epoch, lambda v: v is not None)
    await run(
        engine,
        "UPDATE api_tokens SET last_used_at = CURRENT_TIMESTAMP WHERE id = 't1'",
        "UPDATE apps SET description = 'new words' WHERE id = 'app1'",
    )
    await asyncio.sleep(0.3)
    assert epoch.current() == before


async def _listener_pids(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = $1",
            LISTENER_NAME,
        )
        return [int(r["pid"]) for r in rows]
    finally:
        await conn.close()


async def test_a_lost_listener_turns_the_cache_off() -> None:
    async with postgres_database() as database:
        await _lose_the_listener(database)


async def _lose_the_listener(database: str) -> None:
    engine = db_engine.make_engine(database)
    await db_engine.upgrade(engine)
    dsn = make_url(database).set(drivername="postgresql").render_as_string(False)
    epoch = PostgresEpoch(dsn)
    epoch.start()
    try:
        first = await settle(epoch, lambda v: v is not None)
        assert first is not None
        pids = await _listener_pids(dsn)
        assert pids
        conn = await asyncpg.connect(dsn)
        try:
            for pid in pids:
                await conn.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await conn.close()
        # Down: no answer at all (never the old value) until it listens again ...
        assert await settle(epoch, lambda v: v is None) is None
        # ... and once back, a new value: entries cached before the loss are void.
        back = await settle(epoch, lambda v: v is not None)
        assert back is not None and back != first
    finally:
        await epoch.close()
        await engine.dispose()
