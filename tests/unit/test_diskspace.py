"""Recognising "storage is full" failures and the disk reserve (tufsync.storage.diskspace)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tufsync.storage import StorageUnavailable
from tufsync.storage.diskspace import DiskReserve, LowOnSpace, is_out_of_space


def _sqlite_full() -> sqlite3.OperationalError:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute("PRAGMA max_page_count = 2")
    try:
        conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
    except sqlite3.OperationalError as exc:
        return exc
    raise AssertionError("SQLite accepted a row past max_page_count")


def test_full_disk_and_database_errors_are_recognised() -> None:
    full = _sqlite_full()
    assert full.sqlite_errorcode == sqlite3.SQLITE_FULL
    assert is_out_of_space(full)
    assert is_out_of_space(OperationalError("INSERT", {}, full))
    assert is_out_of_space(OSError(errno.ENOSPC, "No space left on device"))
    assert is_out_of_space(OSError(errno.EDQUOT, "Disk quota exceeded"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise StorageUnavailable("object store write failed") from exc
    except StorageUnavailable as wrapped:
        assert is_out_of_space(wrapped)
    assert is_out_of_space(ExceptionGroup("tasks", [ValueError("x"), full]))


def test_other_errors_and_caller_text_are_not() -> None:
    assert not is_out_of_space(FileNotFoundError(errno.ENOENT, "missing"))
    assert not is_out_of_space(StorageUnavailable("object store write failed: timeout"))
    # Text a caller chose (an app name, a message) never counts, only drivers' errors.
    assert not is_out_of_space(ValueError("No space left on device"))
    assert not is_out_of_space(RuntimeError("database or disk is full"))


def test_reserve(tmp_path: Path) -> None:
    DiskReserve((tmp_path,), 0).check(1 << 62)  # no reserve: never refuses
    DiskReserve((), 1 << 62).check()  # nothing local to watch
    DiskReserve((tmp_path,), 1).check()
    with pytest.raises(LowOnSpace):
        DiskReserve((tmp_path,), 1 << 62).check()
    with pytest.raises(LowOnSpace):
        DiskReserve((tmp_path / "not" / "made",), 1).check(1 << 62)
