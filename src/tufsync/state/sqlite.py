"""SQLite state store for the embedded mode (one file, one process).

Each operation is a single SQL statement (its own transaction) in autocommit
mode, which makes set-if-absent, compare-and-delete and lock acquisition
atomic without multi-statement transactions.

The statements run on the event loop thread itself, not in a helper thread:
each one touches a few rows of a small indexed table in a WAL database
(``synchronous=NORMAL``: a commit appends to the WAL without an fsync), so it
takes microseconds, far less than handing it to a thread and back (a queue, a
thread wake-up, the GIL hand-over and a loop wake-up per call), which made
state-store calls the largest share of a publish task's CPU. The connection
never waits for a lock inside SQLite (``busy_timeout=0``): when another
process holds the database's write lock (a CLI command, a test holding a
key), the call yields to the loop and retries for up to :data:`BUSY_WAIT`
seconds, so the loop is never blocked by another writer. Durability is the
same as before: a committed statement survives a killed process.

A lock's token counter (a ``state_counters`` row) expires
:data:`FENCE_RETENTION` seconds after the lock was last taken or extended and
is purged at most every :data:`COUNTER_PURGE_INTERVAL` seconds, so the counter
of every task lease (one lock per task) goes away with its task. While anyone
holds or keeps extending the lock its counter stays, so tokens of one lock
strictly increase for as long as a holder of an older token can still act on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tufsync.state.base import LockReads, lock_value

T = TypeVar("T")
BUSY_WAIT = 5.0  # seconds a statement waits for another process's write lock
_BUSY_POLL_MAX = 0.05
# Seconds a fence counter outlives the last acquisition or extension of its lock:
# far longer than any task runs (a task's deadline is at most an hour, and its
# lease is extended every few seconds while it runs).
FENCE_RETENTION = 7 * 24 * 3600.0
COUNTER_PURGE_INTERVAL = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state_entries (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at REAL
);
CREATE TABLE IF NOT EXISTS state_sets (
    name TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (name, member)
);
CREATE TABLE IF NOT EXISTS state_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at REAL
);
"""
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


class SqliteStateStore(LockReads):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._next_purge = 0.0

    @classmethod
    async def open(cls, path: str) -> SqliteStateStore:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return cls(await asyncio.to_thread(_connect, path))

    async def _run(self, step: Callable[[sqlite3.Connection], T]) -> T:
        """Run one single-statement step now; retry (yielding) while another
        process holds the write lock, for up to :data:`BUSY_WAIT` seconds."""
        delay = 0.001
        deadline = time.monotonic() + BUSY_WAIT
        while True:
            try:
                return step(self._conn)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BUSY_POLL_MAX)

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        """Run one statement; return the number of rows it changed."""
        return await self._run(lambda c: c.execute(sql, params).rowcount)

    async def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._run(lambda c: c.execute(sql, params).fetchall())

    @staticmethod
    def _expiry(ttl: float | None) -> float | None:
        return None if ttl is None else time.time() + ttl

    async def get(self, key: str) -> str | None:
        rows = await self._rows(
            f"SELECT value FROM state_entries WHERE key = ? AND {_LIVE}", (key, time.time())
        )
        return str(rows[0][0]) if rows else None

    async def get_many(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        marks = ",".join("?" for _ in keys)
        rows = await self._rows(
            f"SELECT key, value FROM state_entries WHERE key IN ({marks}) AND {_LIVE}",
            (*keys, time.time()),
        )
        return {str(k): str(v) for k, v in rows}

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self._write(
            "INSERT INTO state_entries(key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at",
            (key, value, self._expiry(ttl)),
        )

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        now = time.time()
        changed = await self._write(
            "INSERT INTO state_entries(key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at "
            "WHERE state_entries.expires_at IS NOT NULL AND state_entries.expires_at <= ?",
            (key, value, self._expiry(ttl), now),
        )
        return changed == 1

    async def delete(self, *keys: str) -> None:
        if keys:
            marks = ",".join("?" for _ in keys)
            await self._write(f"DELETE FROM state_entries WHERE key IN ({marks})", keys)

    async def delete_if_equals(self, key: str, expected: str) -> bool:
        changed = await self._write(
            f"DELETE FROM state_entries WHERE key = ? AND value = ? AND {_LIVE}",
            (key, expected, time.time()),
        )
        return changed == 1

    async def replace_if_equals(
        self, key: str, expected: str, value: str, ttl: float | None = None
    ) -> bool:
        changed = await self._write(
            f"UPDATE state_entries SET value = ?, expires_at = ? "
            f"WHERE key = ? AND value = ? AND {_LIVE}",
            (value, self._expiry(ttl), key, expected, time.time()),
        )
        return changed == 1

    async def keys(self, prefix: str) -> list[str]:
        upper = prefix + "\U0010ffff"
        rows = await self._rows(
            f"SELECT key FROM state_entries WHERE key >= ? AND key < ? AND {_LIVE} "
            "UNION SELECT DISTINCT name FROM state_sets WHERE name >= ? AND name < ? ORDER BY 1",
            (prefix, upper, time.time(), prefix, upper),
        )
        return [str(r[0]) for r in rows]

    async def rename(self, old: str, new: str) -> bool:
        # Single statements again: drop an expired ``new``, then move ``old`` only
        # while ``new`` is free (an entry first, else a set).
        now = time.time()
        await self._write(f"DELETE FROM state_entries WHERE key = ? AND NOT {_LIVE}", (new, now))
        free = (
            f"NOT EXISTS (SELECT 1 FROM state_entries WHERE key = ? AND {_LIVE}) "
            "AND NOT EXISTS (SELECT 1 FROM state_sets WHERE name = ?)"
        )
        if await self._write(
            f"UPDATE state_entries SET key = ? WHERE key = ? AND {_LIVE} AND {free}",
            (new, old, now, new, now, new),
        ):
            return True
        moved = await self._write(
            f"UPDATE state_sets SET name = ? WHERE name = ? AND {free}", (new, old, new, now, new)
        )
        return moved > 0

    async def add_to_set(self, name: str, member: str) -> None:
        await self._write(
            "INSERT OR IGNORE INTO state_sets(name, member) VALUES (?, ?)", (name, member)
        )

    async def drain_set(self, name: str) -> list[str]:
        rows = await self._rows("DELETE FROM state_sets WHERE name = ? RETURNING member", (name,))
        return sorted(str(r[0]) for r in rows)

    async def _next_token(self, name: str) -> int:
        now = time.time()
        if now >= self._next_purge:
            self._next_purge = now + COUNTER_PURGE_INTERVAL
            await self._write("DELETE FROM state_counters WHERE expires_at <= ?", (now,))
        rows = await self._rows(
            "INSERT INTO state_counters(name, value, expires_at) VALUES (?, 1, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1, "
            "expires_at = excluded.expires_at RETURNING value",
            (name, now + FENCE_RETENTION),
        )
        return int(rows[0][0])

    async def acquire_lock(self, name: str, ttl: float, owner: str = "") -> int | None:
        # Two single-statement transactions: a token that loses the race is
        # simply skipped, so tokens of one lock still strictly increase.
        token = await self._next_token(name)
        if await self.set_if_absent(name, lock_value(token, owner), ttl):
            return token
        return None

    async def extend_lock(self, name: str, token: int, ttl: float) -> bool:
        changed = await self._write(
            "UPDATE state_entries SET expires_at = ? "
            f"WHERE key = ? AND (value = ? OR value LIKE ?) AND {_LIVE}",
            (time.time() + ttl, name, str(token), f"{token} %", time.time()),
        )
        if changed == 1:
            await self._write(
                "UPDATE state_counters SET expires_at = ? WHERE name = ?",
                (time.time() + FENCE_RETENTION, name),
            )
        return changed == 1

    async def release_lock(self, name: str, token: int) -> None:
        await self._write(
            f"DELETE FROM state_entries WHERE key = ? AND (value = ? OR value LIKE ?) AND {_LIVE}",
            (name, str(token), f"{token} %", time.time()),
        )

    async def ping(self) -> None:
        await self._rows("SELECT 1", ())

    async def close(self) -> None:
        self._conn.close()


def _connect(path: str) -> sqlite3.Connection:
    """Open the database in autocommit mode and WAL (waiting, in this start-up
    thread, for another writer), then stop waiting inside SQLite."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_WAIT)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        _add_counter_expiry(conn)
        conn.execute("PRAGMA busy_timeout=0")
    except BaseException:
        conn.close()
        raise
    return conn


def _add_counter_expiry(conn: sqlite3.Connection) -> None:
    """Give the counters of a state file from before they expired an expiry column
    (one writer at a time: another process may be opening the same file)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(state_counters)")}
        if "expires_at" not in columns:
            conn.execute("ALTER TABLE state_counters ADD COLUMN expires_at REAL")
            conn.execute(
                "UPDATE state_counters SET expires_at = ?", (time.time() + FENCE_RETENTION,)
            )
        conn.execute(
            "CREATE INDEX IF NOT EXISTS state_counters_expiry ON state_counters(expires_at)"
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
