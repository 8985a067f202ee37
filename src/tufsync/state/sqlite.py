"""SQLite state store for the embedded mode (one file, one process).

Each operation is a single SQL statement (its own transaction) on one
aiosqlite connection, which makes set-if-absent, compare-and-delete and lock
acquisition atomic without multi-statement transactions.
"""

from __future__ import annotations

import time
from pathlib import Path

import aiosqlite

from tufsync.state.base import lock_value, parse_lock_value

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
    value INTEGER NOT NULL
);
"""
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


class SqliteStateStore:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: str) -> SqliteStateStore:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA busy_timeout=5000")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.executescript(_SCHEMA)
        except BaseException:
            await conn.close()  # its thread would keep the process alive
            raise
        return cls(conn)

    @staticmethod
    def _expiry(ttl: float | None) -> float | None:
        return None if ttl is None else time.time() + ttl

    async def get(self, key: str) -> str | None:
        async with self._conn.execute(
            f"SELECT value FROM state_entries WHERE key = ? AND {_LIVE}", (key, time.time())
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def get_many(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        marks = ",".join("?" for _ in keys)
        async with self._conn.execute(
            f"SELECT key, value FROM state_entries WHERE key IN ({marks}) AND {_LIVE}",
            (*keys, time.time()),
        ) as cur:
            rows = await cur.fetchall()
        return {str(k): str(v) for k, v in rows}

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self._conn.execute(
            "INSERT INTO state_entries(key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at",
            (key, value, self._expiry(ttl)),
        )

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        now = time.time()
        cur = await self._conn.execute(
            "INSERT INTO state_entries(key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at "
            "WHERE state_entries.expires_at IS NOT NULL AND state_entries.expires_at <= ?",
            (key, value, self._expiry(ttl), now),
        )
        return cur.rowcount == 1

    async def delete(self, *keys: str) -> None:
        if keys:
            marks = ",".join("?" for _ in keys)
            await self._conn.execute(f"DELETE FROM state_entries WHERE key IN ({marks})", keys)

    async def delete_if_equals(self, key: str, expected: str) -> bool:
        cur = await self._conn.execute(
            f"DELETE FROM state_entries WHERE key = ? AND value = ? AND {_LIVE}",
            (key, expected, time.time()),
        )
        return cur.rowcount == 1

    async def keys(self, prefix: str) -> list[str]:
        upper = prefix + "\U0010ffff"
        async with self._conn.execute(
            f"SELECT key FROM state_entries WHERE key >= ? AND key < ? AND {_LIVE} "
            "UNION SELECT DISTINCT name FROM state_sets WHERE name >= ? AND name < ? ORDER BY 1",
            (prefix, upper, time.time(), prefix, upper),
        ) as cur:
            rows = await cur.fetchall()
        return [str(r[0]) for r in rows]

    async def rename(self, old: str, new: str) -> bool:
        # Single statements again: drop an expired ``new``, then move ``old`` only
        # while ``new`` is free (an entry first, else a set).
        now = time.time()
        await self._conn.execute(
            f"DELETE FROM state_entries WHERE key = ? AND NOT {_LIVE}", (new, now)
        )
        free = (
            f"NOT EXISTS (SELECT 1 FROM state_entries WHERE key = ? AND {_LIVE}) "
            "AND NOT EXISTS (SELECT 1 FROM state_sets WHERE name = ?)"
        )
        cur = await self._conn.execute(
            f"UPDATE state_entries SET key = ? WHERE key = ? AND {_LIVE} AND {free}",
            (new, old, now, new, now, new),
        )
        if cur.rowcount:
            return True
        cur = await self._conn.execute(
            f"UPDATE state_sets SET name = ? WHERE name = ? AND {free}", (new, old, new, now, new)
        )
        return cur.rowcount > 0

    async def add_to_set(self, name: str, member: str) -> None:
        await self._conn.execute(
            "INSERT OR IGNORE INTO state_sets(name, member) VALUES (?, ?)", (name, member)
        )

    async def drain_set(self, name: str) -> list[str]:
        async with self._conn.execute(
            "DELETE FROM state_sets WHERE name = ? RETURNING member", (name,)
        ) as cur:
            rows = await cur.fetchall()
        return sorted(str(r[0]) for r in rows)

    async def _next_token(self, name: str) -> int:
        async with self._conn.execute(
            "INSERT INTO state_counters(name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def acquire_lock(self, name: str, ttl: float, owner: str = "") -> int | None:
        # Two single-statement transactions: a token that loses the race is
        # simply skipped, so tokens of one lock still strictly increase.
        token = await self._next_token(name)
        if await self.set_if_absent(name, lock_value(token, owner), ttl):
            return token
        return None

    async def extend_lock(self, name: str, token: int, ttl: float) -> bool:
        cur = await self._conn.execute(
            "UPDATE state_entries SET expires_at = ? "
            f"WHERE key = ? AND (value = ? OR value LIKE ?) AND {_LIVE}",
            (time.time() + ttl, name, str(token), f"{token} %", time.time()),
        )
        return cur.rowcount == 1

    async def release_lock(self, name: str, token: int) -> None:
        await self._conn.execute(
            f"DELETE FROM state_entries WHERE key = ? AND (value = ? OR value LIKE ?) AND {_LIVE}",
            (name, str(token), f"{token} %", time.time()),
        )

    async def lock_holder(self, name: str) -> int | None:
        held = await self.lock_owner(name)
        return None if held is None else held[0]

    async def lock_owner(self, name: str) -> tuple[int, str] | None:
        value = await self.get(name)
        return None if value is None else parse_lock_value(value)

    async def ping(self) -> None:
        async with self._conn.execute("SELECT 1") as cur:
            await cur.fetchone()

    async def close(self) -> None:
        await self._conn.close()
