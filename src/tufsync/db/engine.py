"""Database engine, session factory, and migrations run at start-up.

PostgreSQL pool (scale-out): every pooled connection is pinged when it is
checked out (what SQLAlchemy's ``pool_pre_ping`` does), so a connection the
server dropped, e.g. at a restart, is replaced before a request uses it: a
restart fails no request. ``PING_AFTER_IDLE`` (seconds since the connection
was last given back; 0: every checkout) bounds which connections are pinged;
with asyncpg a ping is three round trips (BEGIN, an empty query, ROLLBACK).
A connection that fails anyway is recognised as a disconnect by SQLAlchemy,
which then replaces every pooled connection. The pool is LIFO, so under load
the same few connections stay warm. Transactions (``tufsync.db.transactions``)
run on this engine on PostgreSQL, so they are covered too.

Write transactions that run as one synchronous function go through
``make_transactions`` (a second, synchronous engine on a SQLite file; see
``tufsync.db.transactions``).
"""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from tufsync.db.transactions import Transactions

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PING_AFTER_IDLE = 0.0
# Seconds a SQLite connection waits for another writer (either engine) before it fails.
SQLITE_BUSY_TIMEOUT = 30
_LAST_USED = "tufsync_last_used"


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_use_lifo=True)
    event.listen(engine.sync_engine.pool, "checkin", _remember_checkin)
    event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle)
    return engine


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_transactions(engine: AsyncEngine) -> Transactions:
    """Transactions for ``engine``'s database: on a SQLite file, on a synchronous engine
    of the same file with the same pragmas and busy timeout (see db.transactions)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return Transactions(engine)
    sync = create_engine(
        url.set(drivername="sqlite"), connect_args={"timeout": SQLITE_BUSY_TIMEOUT}
    )
    event.listen(sync, "connect", _sqlite_pragmas)
    return Transactions(engine, sync)


def _remember_checkin(dbapi_conn: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
    record.info[_LAST_USED] = time.monotonic()


def _ping_if_idle(
    dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Ping a reused connection that was idle for at least ``PING_AFTER_IDLE`` s; a dead
    one is replaced (DisconnectionError makes the pool discard it and connect afresh)."""
    last_used = record.info.get(_LAST_USED)
    if last_used is None or time.monotonic() - last_used < PING_AFTER_IDLE:
        return
    try:
        dbapi_conn.ping()  # type: ignore[attr-defined]
    except Exception as exc:
        raise DisconnectionError(f"pooled database connection is gone: {exc}") from exc


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for a read that needs no transaction, e.g. one SELECT per request.

    On PostgreSQL they run in autocommit: asyncpg then sends no BEGIN before the
    first query and no ROLLBACK when the session closes, two of the three round
    trips of a one-query session. Each statement sees its own snapshot, so use
    them only where statements need not agree with each other, and never to
    write (nothing would make several writes atomic). SQLite opens no
    transaction for a SELECT anyway, so there they are the ordinary sessions.
    """
    if engine.dialect.name != "postgresql":
        return make_sessionmaker(engine)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(autocommit, expire_on_commit=False)


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine) -> None:
    """Apply every Alembic migration up to head."""

    def _run(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), "head")

    async with engine.begin() as conn:
        await conn.run_sync(_run)


async def pending_migrations(engine: AsyncEngine) -> bool:
    """True when the database is not at the newest migration."""

    def _check(connection: Connection) -> bool:
        script = ScriptDirectory.from_config(_alembic_config(connection))
        current = MigrationContext.configure(connection).get_current_revision()
        return current != script.get_current_head()

    async with engine.connect() as conn:
        return await conn.run_sync(_check)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
