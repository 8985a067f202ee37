"""Free space on the local filesystems the service writes to, and "out of space" failures.

Uploads are the only writes that can fill a disk quickly; they are refused while
the free space of the local object store's or the SQLite database's filesystem is
below the operator's reserve (``TUFSYNC_DISK_RESERVE_BYTES``, see README "Limits"),
so metadata writes, deletions and the automatic refresh, which need little, still
find room. A store or database that is not a local path (S3, PostgreSQL) has no
filesystem here to watch.

:func:`is_out_of_space` recognises a write that failed because storage is full
(``ENOSPC``/``EDQUOT``, SQLite's ``SQLITE_FULL``, an object store or PostgreSQL
error saying so), so the API can answer 503 and a task can fail with a sentence.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

OUT_OF_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# What drivers say when storage is full: the OS (``os error 28`` through obstore's
# Rust errors), SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100) and EDQUOT.
_FULL_TEXTS = ("no space left on device", "database or disk is full", "disk quota exceeded")
# Only exceptions of these libraries are read for those texts, never text a caller chose.
_DRIVER_MODULES = frozenset({"sqlite3", "sqlalchemy", "obstore", "asyncpg", "aiosqlite"})

OUT_OF_SPACE_SENTENCE = (
    "The server's storage is full, so this change could not be written; "
    "try again after space has been freed."
)


class LowOnSpace(Exception):
    """Free space on a watched filesystem is below the reserve."""

    def __init__(self, free: int, reserve: int) -> None:
        super().__init__(f"{free} bytes free, reserve {reserve}")
        self.free = free
        self.reserve = reserve


@dataclass(frozen=True)
class DiskReserve:
    """Keeps ``reserve`` bytes free on the filesystems of ``paths`` (none: no check)."""

    paths: tuple[Path, ...]
    reserve: int

    @property
    def active(self) -> bool:
        return self.reserve > 0 and bool(self.paths)

    def free(self) -> int | None:
        """The least free space among the watched filesystems (None: nothing watched)."""
        if not self.paths:
            return None
        return min(_free_bytes(path) for path in self.paths)

    def check(self, incoming: int = 0) -> None:
        """Raise :class:`LowOnSpace` when writing ``incoming`` more bytes would leave
        less than the reserve free."""
        if not self.active:
            return
        free = self.free()
        if free is not None and free - incoming < self.reserve:
            raise LowOnSpace(free, self.reserve)


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def _free_bytes(path: Path) -> int:
    """Free bytes of ``path``'s filesystem (its nearest existing ancestor's), as an
    unprivileged writer sees them."""
    try:
        st = os.statvfs(path)
    except FileNotFoundError:
        st = os.statvfs(_existing(path))
    return st.f_bavail * st.f_frsize


def watched(paths: Iterable[Path | None]) -> tuple[Path, ...]:
    """One path per filesystem among ``paths`` (None stands for a non-local part)."""
    by_device: dict[int, Path] = {}
    for path in paths:
        if path is not None:
            by_device.setdefault(os.stat(_existing(path)).st_dev, path)
    return tuple(by_device.values())


def is_out_of_space(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) says storage is full."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _says_full(current):
            return True
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        original = getattr(current, "orig", None)  # SQLAlchemy's wrapped DB-API error
        if isinstance(original, BaseException):
            stack.append(original)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
    return False


def _says_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in OUT_OF_SPACE_ERRNOS:
        return True
    if isinstance(exc, sqlite3.Error) and exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
        return True
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _DRIVER_MODULES:
        text = str(exc).lower()
        return any(marker in text for marker in _FULL_TEXTS)
    return False
