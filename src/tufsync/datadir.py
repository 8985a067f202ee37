"""The data directory's permissions: the folder 0700, its databases and secrets 0600.

Run at every start, so a directory made by an older version (0755, files 0644) is
tightened too. SQLite creates its ``-wal``/``-shm`` files with the database's mode.
"""

from __future__ import annotations

import os
from pathlib import Path

from tufsync.settings import Settings

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite…:///path`` URL, or None for other databases and :memory:."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    return None if not path or path == ":memory:" else Path(path)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; make it 0600 either way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    os.chmod(path, PRIVATE_FILE)


def secure_data_dir(settings: Settings) -> None:
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.chmod(data_dir, PRIVATE_DIR)
    files = [data_dir / "secrets.json"]
    for url in (settings.resolved_database_url, settings.resolved_state_url):
        path = sqlite_path(url)
        if path is not None:
            files.append(path)
            files += [path.with_name(path.name + side) for side in SQLITE_SIDE_FILES]
    for path in files:
        if path.exists() or path.suffix == ".db":
            private_file(path)
