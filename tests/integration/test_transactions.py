"""``Transactions``: sync transaction functions on SQLite (a second, sync
engine in one thread hop) and PostgreSQL (the async engine's run_sync)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tufsync.db import engine as db_engine
from tufsync.db.transactions import Transactions

# Generous: a deadlock between the engines would otherwise last the busy timeout (30 s).
DEADLINE = 15.0


class Refused(Exception):
    """A refusal raised after a write (as the publish request's 403/404 are)."""


@pytest.fixture(params=["sqlite", "postgresql"])
async def databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[AsyncEngine, Transactions]]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = db_engine.make_engine(url)
    await db_engine.upgrade(engine)
    transactions = db_engine.make_transactions(engine)
    assert transactions.synchronous == (request.param == "sqlite")
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS tx_probe"))
        await conn.execute(text("CREATE TABLE tx_probe (name VARCHAR(64) PRIMARY KEY)"))
    yield engine, transactions
    await transactions.dispose()
    await engine.dispose()


def _insert(conn: Connection, *names: str) -> int:
    for name in names:
        conn.execute(text("INSERT INTO tx_probe (name) VALUES (:n)"), {"n": name})
    return len(names)


def _insert_then_refuse(conn: Connection, name: str) -> None:
    _insert(conn, name)
    raise Refused(name)


async def _names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(text("SELECT name FROM tx_probe"))).scalars())


async def test_commit_on_success_and_rollback_on_error(
    databases: tuple[AsyncEngine, Transactions],
) -> None:
    engine, transactions = databases
    assert await transactions.run(_insert, "a", "b") == 2
    with pytest.raises(Refused):
        await transactions.run(_insert_then_refuse, "c")
    async with transactions.begin() as tx:
        await tx.run(_insert, "d")
        await asyncio.sleep(0)  # an await between the steps, as the upload's moves
        await tx.run(_insert, "e")
    with pytest.raises(Refused):
        async with transactions.begin() as tx:
            await tx.run(_insert, "f")
            raise Refused("after the write")  # e.g. a 403 after claims were inserted
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with transactions.begin() as tx:
            await tx.run(_insert, "g")
            await tx.run(_insert, "a")  # integrity error in a later step
    assert await _names(engine) == {"a", "b", "d", "e"}


async def test_cancelled_transaction_rolls_back(
    databases: tuple[AsyncEngine, Transactions],
) -> None:
    engine, transactions = databases
    wrote = asyncio.Event()

    async def writer() -> None:
        async with transactions.begin() as tx:
            await tx.run(_insert, "cancelled")
            wrote.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(writer())
    await asyncio.wait_for(wrote.wait(), DEADLINE)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(transactions.run(_insert, "next"), DEADLINE)
    assert await _names(engine) == {"next"}


async def test_concurrent_writers_on_both_engines(
    databases: tuple[AsyncEngine, Transactions],
) -> None:
    """Writers of both engines, each holding its transaction across awaits, all finish
    (none waits for the other until the busy timeout) and all land."""
    engine, transactions = databases

    async def sync_writer(i: int) -> None:
        async with transactions.begin() as tx:
            await tx.run(_insert, f"s{i}a")
            await asyncio.sleep(0.01)
            await tx.run(_insert, f"s{i}b")

    async def async_writer(i: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO tx_probe (name) VALUES (:n)"), {"n": f"a{i}a"})
            await asyncio.sleep(0.01)
            await conn.execute(text("INSERT INTO tx_probe (name) VALUES (:n)"), {"n": f"a{i}b"})

    async def one_shot(i: int) -> None:
        await transactions.run(_insert, f"r{i}")

    jobs = [f(i) for i in range(8) for f in (sync_writer, async_writer, one_shot)]
    await asyncio.wait_for(asyncio.gather(*jobs), DEADLINE * 2)
    expected = {f"{p}{i}{s}" for i in range(8) for p in "sa" for s in "ab"}
    expected |= {f"r{i}" for i in range(8)}
    assert await _names(engine) == expected


async def test_async_writer_holding_the_lock_does_not_block_the_loop(
    databases: tuple[AsyncEngine, Transactions],
) -> None:
    """An async-engine transaction holds the write lock across an await while a sync
    transaction waits for it: the wait is in the thread, so the holder commits and
    the waiter then lands."""
    engine, transactions = databases
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO tx_probe (name) VALUES ('holder')"))
        waiter = asyncio.create_task(transactions.run(_insert, "waiter"))
        await asyncio.sleep(0.3)  # the loop runs while the waiter waits
        assert not waiter.done() or not transactions.synchronous
    await asyncio.wait_for(waiter, DEADLINE)
    assert await _names(engine) == {"holder", "waiter"}


async def test_auth_epoch_triggers_fire_on_the_sync_engine(
    databases: tuple[AsyncEngine, Transactions],
) -> None:
    """Migration 0006's triggers live in the database: a rename through Transactions
    moves the epoch (SQLite) / runs the NOTIFY trigger without error (PostgreSQL)."""
    engine, transactions = databases

    def _rename(conn: Connection) -> None:
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, token_generation, created_at) "
                "VALUES ('epochuser', 'h', 'g', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(text("UPDATE users SET username = 'epochuser2' WHERE username = 'epochuser'"))

    async def epoch() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT value FROM auth_epoch"))).scalar_one())

    before = await epoch()
    await transactions.run(_rename)
    if transactions.synchronous:
        assert await epoch() == before + 1
