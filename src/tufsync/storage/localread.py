"""Inline reads of the local object store directory, with a bounded cache of small files.

Embedded mode keeps the public files in a local directory. A TUF client reads
``timestamp.json`` on every update check, so the public route reads small
files here directly on the event loop (a ``stat`` and, on a miss, one
``open``/``read``; microseconds on a local file system) instead of a round trip
through obstore's thread pool. Large files are left to obstore's streaming.

Keys map to paths exactly as obstore's ``LocalStore`` maps them (the key,
verbatim, under the root; callers check keys with ``is_safe_key`` first), and
the names obstore itself refuses to read are refused here too: a last segment
``<name>#<digits>`` is a partial file of an interrupted write, never an object.
Only regular files are served; a symbolic link as the last segment is not
followed (``lstat`` and ``O_NOFOLLOW``).

What invalidates the cache (every lookup, both deployment modes): each read
``lstat``s the path first. A missing path drops the entry and answers "missing"
at once (a deleted app, a swept staging file). A cached entry is served only
while the path's (device, inode, size, mtime_ns, ctime_ns) equal those of the
file descriptor its bytes were read from; obstore replaces files by rename (a
new inode) and any in-place change moves ``ctime``. Because file times tick in
coarse steps, a file is cached only once its ``mtime`` and ``ctime`` are more
than ``settle_seconds`` old, so a later change always carries a later time
than the cached one (the "racy stat" rule; it assumes the wall clock does not
step back by more than ``settle_seconds``). Several processes sharing the
directory each validate against the file system, so none serves a replaced or
deleted file. S3 storage does not use this module.

Memory bound: files up to ``max_file`` bytes are cached, least recently used
first out, and the cache holds at most ``max_bytes``, counting each entry's
bytes, its key and a fixed overhead.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_FILE = 64 * 1024
MAX_BYTES = 8 * 1024 * 1024
SETTLE_SECONDS = 2.0
ENTRY_OVERHEAD = 256
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# errno values that mean "no such object" for a key: absent, a file where a
# folder was expected, a name too long, a symbolic link refused by O_NOFOLLOW.
_MISSING = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP})

Signature = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class Found:
    """A regular file: its size, and its bytes when small enough to send in one piece."""

    size: int
    data: bytes | None


@dataclass(frozen=True)
class _Entry:
    signature: Signature
    data: bytes
    cost: int


def is_partial_name(key: str) -> bool:
    """True for obstore's partial files: last segment ``<name>#<digits>``."""
    name = key.rpartition("/")[2]
    suffix = name.partition("#")[2]
    return suffix.isascii() and suffix.isdigit()


def _signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class LocalFiles:
    """Reads of one local object store directory; see the module docstring for the cache rules."""

    def __init__(
        self,
        root: str,
        *,
        max_file: int = MAX_FILE,
        max_bytes: int = MAX_BYTES,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self._root = root.rstrip("/") or "/"
        self.max_file = max_file
        self.max_bytes = max_bytes
        self._settle_ns = int(settle_seconds * 1e9)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.cached_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}"

    def stat(self, key: str) -> os.stat_result | None:
        """The regular file at ``key`` (not following a final symbolic link), or None."""
        if is_partial_name(key):
            return None
        try:
            st = os.stat(self._path(key), follow_symlinks=False)
        except OSError as exc:
            if exc.errno in _MISSING:
                self.forget(key)
                return None
            raise
        if not stat.S_ISREG(st.st_mode):
            self.forget(key)
            return None
        return st

    def read(self, key: str) -> Found | None:
        """The file at ``key``: its bytes when at most ``max_file``, else only its size.

        None when there is no regular file at ``key``. Raises OSError when the
        directory cannot be read (permissions, I/O error)."""
        st = self.stat(key)
        if st is None:
            return None
        if st.st_size > self.max_file:
            self.forget(key)
            return Found(st.st_size, None)
        entry = self._entries.get(key)
        if entry is not None:
            if entry.signature == _signature(st):
                self._entries.move_to_end(key)
                return Found(len(entry.data), entry.data)
            self.forget(key)
        return self._load(key)

    def _load(self, key: str) -> Found | None:
        """Read the file through one descriptor; cache it when settled and small."""
        try:
            fd = os.open(self._path(key), _OPEN_FLAGS)
        except OSError as exc:
            if exc.errno in _MISSING:
                return None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size > self.max_file:
                return Found(st.st_size, None)
            data = os.read(fd, st.st_size + 1)
        finally:
            os.close(fd)
        if len(data) != st.st_size:
            # Changed while read (not how obstore writes): let the streaming path answer.
            return Found(st.st_size, None)
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > self._settle_ns:
            self._remember(key, _Entry(_signature(st), data, len(data) + len(key) + ENTRY_OVERHEAD))
        return Found(len(data), data)

    def _remember(self, key: str, entry: _Entry) -> None:
        if entry.cost > self.max_bytes:
            return
        while self._entries and self.cached_bytes + entry.cost > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self.cached_bytes -= oldest.cost
        self._entries[key] = entry
        self.cached_bytes += entry.cost

    def forget(self, key: str) -> None:
        """Drop ``key`` from the cache (a no-op when absent)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.cached_bytes -= entry.cost
