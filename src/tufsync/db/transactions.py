"""Write transactions run as one synchronous function: ``Transactions``.

A caller hands a function ``fn(connection, *args)`` that runs prebuilt Core
statements; ``Transactions.run`` runs it inside one transaction, and
``Transactions.begin`` opens a transaction in which several such functions (and
awaits between them, e.g. moving stored objects before the commit) run.

On PostgreSQL the function runs in a greenlet on the async engine
(``AsyncConnection.run_sync``): asyncpg makes no thread hops. On SQLite the
async engine (aiosqlite) hops to its thread 3 to 4 times per statement, so the
function runs instead on a *synchronous* engine on the same file, with the same
pragmas and busy timeout (``tufsync.db.engine.make_transactions``), in one hop to one
dedicated thread; the commit or rollback is one more hop (none for ``run``).

Semantics are those of the async engine: the same driver (pysqlite, whose
legacy transaction control opens the transaction at the first write), commit on
success, rollback on any exception (including a refusal raised after a write,
and a cancellation). Migrations' triggers live in the database file, so they
fire on both engines.

Deadlocks: SQLite allows one writer at a time and both engines wait for it up
to the busy timeout. Transactions of this process on the sync engine take turns
(an ``asyncio.Lock`` held from the first hop to the commit), so a transaction
that awaits between its hops never needs the thread while another of ours sits
in it waiting for the write lock it holds; the single thread is never occupied
by anything but the lock holder. A writer on the async engine holding the write
lock makes our thread wait, not the event loop, so it can always finish. Do not
start a transaction here while holding the write lock through an async-engine
session in the same task (that one would wait for itself until the timeout).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

P = ParamSpec("P")
T = TypeVar("T")


class Transaction(Protocol):
    """An open transaction; ``run`` calls ``fn(connection, *args)`` inside it."""

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...


class _AsyncTransaction:
    """A transaction on the async engine: ``fn`` runs in one greenlet."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._conn.run_sync(fn, *args, **kwargs)


class _SyncTransaction:
    """A transaction on the sync SQLite engine; every step runs on ``executor``'s one
    thread (steps of one transaction in order: the executor is FIFO)."""

    def __init__(self, engine: Engine, executor: ThreadPoolExecutor) -> None:
        self._engine = engine
        self._executor = executor
        self._conn: Connection | None = None

    async def hop(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn)
        return await loop.run_in_executor(self._executor, call)

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
            self._conn.begin()
        return self._conn

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self.hop(lambda: fn(self._connection(), *args, **kwargs))

    def finish(self, commit: bool) -> None:
        """Commit (or roll back) and give the connection back; closing a connection
        whose commit failed rolls it back."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if commit:
                conn.commit()
            else:
                conn.rollback()
        finally:
            conn.close()


class Transactions:
    """Runs synchronous transaction functions; see the module docstring."""

    def __init__(self, engine: AsyncEngine, sync_engine: Engine | None = None) -> None:
        self._engine = engine
        self._sync = sync_engine
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="sqlite-tx") if sync_engine else None
        )
        self._turn = asyncio.Lock()

    @property
    def synchronous(self) -> bool:
        """True when transactions run on the sync SQLite engine."""
        return self._sync is not None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Transaction]:
        """An open transaction: committed when the block ends, rolled back on any
        exception raised in it."""
        if self._sync is None or self._executor is None:
            async with self._engine.begin() as conn:
                yield _AsyncTransaction(conn)
            return
        async with self._turn:
            tx = _SyncTransaction(self._sync, self._executor)
            try:
                yield tx
            except BaseException:
                await asyncio.shield(tx.hop(lambda: tx.finish(False)))
                raise
            await tx.hop(lambda: tx.finish(True))

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``fn(connection, *args)`` in a transaction of its own (one thread hop on
        SQLite: the statements and the commit)."""
        if self._sync is None or self._executor is None:
            async with self._engine.begin() as conn:
                return await conn.run_sync(fn, *args, **kwargs)
        sync = self._sync

        def _whole() -> T:
            with sync.begin() as conn:
                return fn(conn, *args, **kwargs)

        async with self._turn:
            tx = _SyncTransaction(sync, self._executor)
            return await tx.hop(_whole)

    async def dispose(self) -> None:
        """Close the sync engine's connections (in their thread) and the thread."""
        if self._sync is None or self._executor is None:
            return
        sync = self._sync
        tx = _SyncTransaction(sync, self._executor)
        await tx.hop(sync.dispose)
        self._executor.shutdown(wait=True)


async def run_in_session(
    session: AsyncSession,
    fn: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``fn(connection, *args)`` on ``session``'s connection, inside the session's
    transaction (the same Core functions a ``Transactions`` runs, for a session that
    also reads or writes ORM rows)."""
    conn = await session.connection()
    return await conn.run_sync(fn, *args, **kwargs)
