"""Per-tenant storage quota and the disk reserve, as they bound an upload.

The quota (``TUFSYNC_TENANT_QUOTA_BYTES``, 0: none) counts what an admin has
stored: the sum of the lengths of their artifacts in the registry
(:func:`tufsync.db.queries.stored_bytes`). An upload is measured three times:

1. before its body is read, against what is stored then (a tenant at its quota
   is refused at once) and the disk reserve; an owner this process saw at least
   one upload size below the quota moments ago skips this read (``_RECENT``);
2. while it streams, with :class:`UploadBudget`'s ``limit``: staging stops at
   whichever comes first of the upload size limit and the quota left, and
   ``guard`` re-checks the reserve for every chunk written;
3. under the admin's registry lock, in the transaction that adds the rows, so
   concurrent uploads of one admin never pass the quota together.

A refusal leaves nothing: staged objects are deleted and no row is written
(``tufsync.registry.service.upload_artifacts``). The reserve
(``TUFSYNC_DISK_RESERVE_BYTES``) keeps room for metadata writes, deletions and
the automatic refresh, which never check it (README "Limits").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from sqlalchemy import Connection

from tufsync.datadir import sqlite_path
from tufsync.db import queries
from tufsync.registry.uploads import UploadTooLarge
from tufsync.storage.diskspace import DiskReserve, LowOnSpace, watched
from tufsync.tasks.contract import TaskContext

if TYPE_CHECKING:
    from tufsync.settings import Settings


class StorageRefused(Exception):
    """An upload refused for storage (``status`` is the HTTP answer)."""

    status = 507

    def __init__(self, error: str, message: str) -> None:
        super().__init__(error)
        self.error = error
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message}


class QuotaExceeded(StorageRefused):
    """Storing the upload would pass the admin's quota (413: the request is too
    large for what the account may still store)."""

    status = 413

    def __init__(self, quota: int, stored: int) -> None:
        super().__init__(
            f"Upload refused: it would take your stored artifacts past your storage quota "
            f"of {quota} bytes ({stored} bytes stored now).",
            "Delete artifacts or versions you no longer need, or ask the operator to raise "
            "TUFSYNC_TENANT_QUOTA_BYTES; nothing of this upload was stored.",
        )
        self.quota = quota
        self.stored = stored


class ReserveReached(StorageRefused):
    """Free disk space is below the reserve kept for metadata and deletions (507)."""

    status = 507

    def __init__(self) -> None:
        super().__init__(
            "Upload refused: the server is low on disk space.",
            "The free space left is kept for metadata, deletions and the automatic refresh; "
            "uploads are accepted again once the operator has freed space. Deleting "
            "artifacts still works; nothing of this upload was stored.",
        )


@dataclass(frozen=True)
class UploadBudget:
    """What one upload may store: ``limit`` bytes in all, the reserve kept."""

    size_limit: int
    quota: int
    stored: int
    reserve: DiskReserve

    @property
    def quota_left(self) -> int | None:
        return None if not self.quota else max(self.quota - self.stored, 0)

    @property
    def quota_binds(self) -> bool:
        """True when the quota left, not the upload size limit, bounds this upload."""
        left = self.quota_left
        return left is not None and left < self.size_limit

    @property
    def limit(self) -> int:
        left = self.quota_left
        return self.size_limit if left is None else min(self.size_limit, left)

    def too_large(self) -> Exception:
        """What to raise when the upload went past ``limit``."""
        return QuotaExceeded(self.quota, self.stored) if self.quota_binds else UploadTooLarge()

    def guard(self, written: int) -> None:
        """Called for every chunk staged: refuse once free space falls below the reserve."""
        try:
            self.reserve.check()
        except LowOnSpace:
            raise ReserveReached() from None

    def check_rows(self, conn: Connection, owner_id: int, adding: int) -> None:
        """Under the admin's registry lock: refuse when ``adding`` bytes of new rows
        would take the admin's stored bytes past the quota."""
        if not self.quota or adding == 0:
            return
        stored = queries.stored_bytes(conn, owner_id)
        if stored + adding > self.quota:
            raise QuotaExceeded(self.quota, stored)
        _remember(owner_id, stored + adding)


# Stored bytes per owner as this process last read them (value, monotonic time). An
# upload whose owner was at least a whole upload size limit below the quota moments
# ago skips the read before its body (a thread hop on SQLite): it streams up to the
# size limit, and the check under the registry lock stays exact. Entries only
# decide whether to read; a refusal always follows a fresh read.
_RECENT: dict[int, tuple[int, float]] = {}
RECENT_SECONDS = 5.0
RECENT_MAX = 65536


def _remember(owner_id: int, stored: int) -> None:
    if len(_RECENT) >= RECENT_MAX:
        _RECENT.clear()
    _RECENT[owner_id] = (stored, time.monotonic())


def _recently_far_below(owner_id: int, quota: int, size_limit: int) -> int | None:
    """The stored bytes remembered for ``owner_id`` when recent and at least
    ``size_limit`` below ``quota``; else None (read them)."""
    seen = _RECENT.get(owner_id)
    if seen is None or time.monotonic() - seen[1] > RECENT_SECONDS:
        return None
    return seen[0] if seen[0] + size_limit <= quota else None


def _watched_paths(storage_url: str, database_url: str) -> tuple[Path, ...]:
    store: Path | None = None
    parsed = urlparse(storage_url)
    if parsed.scheme == "file":
        store = Path(unquote(parsed.path))
    database = sqlite_path(database_url)
    return watched([store, None if database is None else database.parent])


def disk_reserve(settings: Settings) -> DiskReserve:
    """The reserve kept on the local store's and the SQLite database's filesystems."""
    if not settings.disk_reserve_bytes:
        return DiskReserve((), 0)
    # Resolved once per configuration: the settings' resolved_* properties touch the disk.
    key = (settings.data_dir, settings.storage_url, settings.database_url)
    paths = _RESERVE_PATHS.get(key)
    if paths is None:
        paths = _RESERVE_PATHS[key] = _watched_paths(
            settings.resolved_storage_url, settings.resolved_database_url
        )
    return DiskReserve(paths, settings.disk_reserve_bytes)


_RESERVE_PATHS: dict[tuple[Path, str | None, str | None], tuple[Path, ...]] = {}


async def upload_budget(services: TaskContext, owner_id: int, incoming: int = 0) -> UploadBudget:
    """Step 1: refuse an upload of ``incoming`` bytes (0: not known yet) now when the
    reserve or the admin's quota leaves no room; else what it may store."""
    settings = services.settings
    reserve = disk_reserve(settings)
    try:
        reserve.check(incoming)
    except LowOnSpace:
        raise ReserveReached() from None
    quota, size_limit = settings.tenant_quota_bytes, settings.max_upload_bytes
    stored = 0
    if quota:
        recent = _recently_far_below(owner_id, quota, size_limit)
        if recent is not None:
            stored = recent
        else:
            stored = await services.transactions.run(queries.stored_bytes, owner_id)
            _remember(owner_id, stored)
    budget = UploadBudget(size_limit, quota, stored, reserve)
    if quota and stored >= quota:
        raise QuotaExceeded(quota, stored)
    return budget
