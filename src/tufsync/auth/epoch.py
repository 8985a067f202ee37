"""The auth epoch: whether cached sign-in answers may still be trusted, per database.

Migration ``0006_auth_epoch`` installs triggers that fire on every change to who
may sign in (an account deleted, renamed, its password or token generation
changed; an API token deleted or its scope, expiry or secret changed; an app
deleted or renamed), whoever makes it: this process, another API process, or an
operator's SQL. :class:`AuthEpoch.current` answers a value that moves with every
such change, or ``None`` when it cannot vouch for the cache (then every request
reads the database, as without a cache).

- SQLite (embedded mode, or several processes on one SQLite file): the triggers
  bump ``auth_epoch.value`` inside the changing transaction; ``current`` reads it
  with one local read on a connection of its own, so a request that starts after
  a change committed always sees it. No staleness at all.
- PostgreSQL (scale-out): the triggers send ``NOTIFY tufsync_auth`` at commit; one
  listening connection per process moves a local counter on each notification.
  ``current`` answers ``None`` whenever that connection is not listening, has just
  (re)connected, or has not completed a heartbeat in :data:`FRESH_SECONDS`, so a
  lost connection means reading the database, never a stale answer. Bound: a
  change is seen by other processes once its notification arrives (sub-millisecond
  on a live connection), and by this process at once (:meth:`AuthEpoch.changed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
CHANNEL = "tufsync_auth"
LISTENER_NAME = "tufsync-auth-listener"  # application_name, as pg_stat_activity shows it
HEARTBEAT_SECONDS = 0.5
FRESH_SECONDS = 1.5
RECONNECT_SECONDS = 1.0


class AuthEpoch(Protocol):
    def current(self) -> int | None:
        """A value that moves with every auth change, or None: do not use the cache."""

    def changed(self) -> None:
        """This process just committed an auth change."""

    async def close(self) -> None: ...


class NoEpoch:
    """No way to see changes (an in-memory database): never trust the cache."""

    def current(self) -> int | None:
        return None

    def changed(self) -> None:
        return None

    async def close(self) -> None:
        return None


class SqliteEpoch:
    """Reads ``auth_epoch.value`` from the database file on a connection of its own.

    The read runs on the event loop: it is a local read of one row (a few
    microseconds), never waits for a lock (``timeout=0``; in WAL mode readers do
    not wait for writers), and any error answers ``None``.
    """

    def __init__(self, path: Path) -> None:
        uri = path.resolve().as_uri() + "?mode=rw"
        self._conn = sqlite3.connect(
            uri, uri=True, timeout=0, isolation_level=None, check_same_thread=False
        )
        self._cursor = self._conn.cursor()

    def current(self) -> int | None:
        try:
            row = self._cursor.execute("SELECT value FROM auth_epoch WHERE id = 1").fetchone()
        except sqlite3.Error:
            return None
        return int(row[0]) if row else None

    def changed(self) -> None:
        return None  # the triggers moved the value in the changing transaction

    async def close(self) -> None:
        self._conn.close()


class PostgresEpoch:
    """A local counter moved by ``NOTIFY tufsync_auth`` on a listening connection."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._counter = 0
        self._live = False
        self._last_ok = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    @property
    def live(self) -> bool:
        return self._live and time.monotonic() - self._last_ok <= FRESH_SECONDS

    def current(self) -> int | None:
        return self._counter if self.live else None

    def changed(self) -> None:
        self._counter += 1

    def _notified(self, *_args: Any) -> None:
        self._counter += 1

    def _lost(self, *_args: Any) -> None:
        self._live = False
        self._counter += 1

    async def _listen_once(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            self._dsn, timeout=5, server_settings={"application_name": LISTENER_NAME}
        )
        try:
            conn.add_termination_listener(self._lost)
            await conn.add_listener(CHANNEL, self._notified)
            # Anything may have changed while nobody listened: older entries are void.
            self._counter += 1
            self._last_ok = time.monotonic()
            self._live = True
            while True:
                # A completed heartbeat proves the connection (and so the delivery of
                # notifications) still worked when it started.
                started = time.monotonic()
                await asyncio.wait_for(conn.fetchval("SELECT 1"), FRESH_SECONDS)
                self._last_ok = started
                await asyncio.sleep(HEARTBEAT_SECONDS)
        finally:
            self._lost()
            conn.terminate()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("auth cache off: not listening for account changes (%s)", exc)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._live = False


def open_epoch(database_url: str) -> AuthEpoch:
    """The epoch for the service's database (started; close it at shutdown)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return NoEpoch()
        return SqliteEpoch(Path(url.database))
    if url.get_backend_name() == "postgresql":
        epoch = PostgresEpoch(url.set(drivername="postgresql").render_as_string(False))
        epoch.start()
        return epoch
    return NoEpoch()
