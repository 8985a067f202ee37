"""The StateStore protocol every backend (SQLite, Redis) implements.

Values are strings (JSON where structured). Operations that must be atomic
across processes (set-if-absent, compare-and-delete, locks with fencing
tokens) are part of the interface so callers never compose them from reads
and writes.
"""

from __future__ import annotations

from typing import Protocol


class StateStore(Protocol):
    async def get(self, key: str) -> str | None:
        """Return the value of ``key`` or None."""

    async def get_many(self, keys: list[str]) -> dict[str, str]:
        """Return the values of the keys that exist."""

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Set ``key``; with ``ttl`` it disappears after that many seconds."""

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        """Set ``key`` only if it does not exist; True when it was set."""

    async def delete(self, *keys: str) -> None:
        """Delete keys; missing ones are ignored."""

    async def delete_if_equals(self, key: str, expected: str) -> bool:
        """Delete ``key`` only while it holds ``expected``; True when deleted."""

    async def replace_if_equals(
        self, key: str, expected: str, value: str, ttl: float | None = None
    ) -> bool:
        """Set ``key`` to ``value`` only while it holds ``expected`` (atomically);
        True when it was set."""

    async def keys(self, prefix: str) -> list[str]:
        """All live keys and set names starting with ``prefix`` (sorted)."""

    async def rename(self, old: str, new: str) -> bool:
        """Move the entry or set ``old`` to ``new`` with its value and time-to-live.

        Atomic; False (nothing changed) when ``old`` is missing or ``new`` exists.
        Used by the state-store migration.
        """

    async def add_to_set(self, name: str, member: str) -> None:
        """Add ``member`` to the set ``name``."""

    async def drain_set(self, name: str) -> list[str]:
        """Atomically remove and return every member of ``name`` (sorted)."""

    async def acquire_lock(self, name: str, ttl: float, owner: str = "") -> int | None:
        """Take lock ``name`` for ``ttl`` seconds; return a fencing token or None if held.

        Tokens of one lock strictly increase across acquisitions. ``owner`` names
        the process instance taking it (see :mod:`tufsync.state.instances`).
        """

    async def extend_lock(self, name: str, token: int, ttl: float) -> bool:
        """Extend a held lock; False when ``token`` no longer holds it."""

    async def release_lock(self, name: str, token: int) -> None:
        """Release the lock if ``token`` still holds it."""

    async def lock_holder(self, name: str) -> int | None:
        """The fencing token currently holding ``name``, if any."""

    async def lock_owner(self, name: str) -> tuple[int, str] | None:
        """(token, owner instance) currently holding ``name`` ("" when unnamed), if any."""

    async def ping(self) -> None:
        """Raise when the store does not answer."""

    async def close(self) -> None:
        """Release connections."""


def lock_value(token: int, owner: str) -> str:
    """A held lock's stored value: its fencing token, then the owner instance if named."""
    if " " in owner:
        raise ValueError("a lock owner name has no spaces")
    return f"{token} {owner}" if owner else str(token)


def parse_lock_value(value: str) -> tuple[int, str]:
    token, _, owner = value.partition(" ")
    return int(token), owner


class _Readable(Protocol):
    async def get(self, key: str) -> str | None: ...


class LockReads:
    """``lock_holder`` and ``lock_owner`` of a store that keeps a held lock as an entry
    (:func:`lock_value`) that ``get`` reads."""

    async def lock_holder(self: _Readable, name: str) -> int | None:
        value = await self.get(name)
        return None if value is None else parse_lock_value(value)[0]

    async def lock_owner(self: _Readable, name: str) -> tuple[int, str] | None:
        value = await self.get(name)
        return None if value is None else parse_lock_value(value)
