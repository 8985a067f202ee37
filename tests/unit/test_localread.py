"""The local small-file reader: what it serves, when its cache is trusted, how big it grows."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tufsync.storage import open_store
from tufsync.storage.localread import Found, LocalFiles, is_partial_name

KEY = "tuf_metadata/alice/app/timestamp.json"
# Long enough for any file system's coarse timestamp tick.
SETTLE = 0.05


def write(root: Path, key: str, data: bytes) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def settled(files: LocalFiles, key: str) -> Found | None:
    """Read ``key`` once it is older than the settle time, so that it gets cached."""
    time.sleep(SETTLE * 2)
    found = files.read(key)
    assert files.read(key) == found
    return found


def test_settled_small_file_is_cached_and_a_fresh_one_is_not(tmp_path: Path) -> None:
    write(tmp_path, KEY, b"v1")
    files = LocalFiles(str(tmp_path))  # default settle time: seconds
    assert files.read(KEY) == Found(2, b"v1")
    assert len(files) == 0
    quick = LocalFiles(str(tmp_path), settle_seconds=SETTLE)
    assert settled(quick, KEY) == Found(2, b"v1")
    assert len(quick) == 1


async def test_replaced_file_is_served_at_once(tmp_path: Path) -> None:
    """A new timestamp.json (obstore writes a new file and renames it) is seen at once."""
    store = open_store(tmp_path.as_uri())
    write(tmp_path, KEY, b"version-1")
    files = LocalFiles(str(tmp_path), settle_seconds=SETTLE)
    assert settled(files, KEY) == Found(9, b"version-1")
    assert len(files) == 1
    await store.put(KEY, b"version-2")
    assert files.read(KEY) == Found(9, b"version-2")


def test_same_size_rewrite_in_place_with_old_mtime_is_noticed(tmp_path: Path) -> None:
    path = write(tmp_path, KEY, b"aaaa")
    files = LocalFiles(str(tmp_path), settle_seconds=SETTLE)
    assert settled(files, KEY) == Found(4, b"aaaa")
    before = path.stat()
    with path.open("r+b") as handle:  # same inode, same size
        handle.write(b"bbbb")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime too
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
    assert files.read(KEY) == Found(4, b"bbbb")


def test_deleted_file_and_deleted_folder_are_missing_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, KEY, b"gone soon")
    other = write(tmp_path, "tuf_metadata/alice/other/1.root.json", b"{}")
    files = LocalFiles(str(tmp_path), settle_seconds=SETTLE)
    assert settled(files, KEY) is not None
    assert settled(files, "tuf_metadata/alice/other/1.root.json") is not None
    path.unlink()
    assert files.read(KEY) is None
    assert files.stat(KEY) is None
    for child in other.parent.iterdir():
        child.unlink()
    other.parent.rmdir()
    assert files.read("tuf_metadata/alice/other/1.root.json") is None
    assert len(files) == 0 and files.cached_bytes == 0


def test_large_file_gives_only_its_size_and_is_not_cached(tmp_path: Path) -> None:
    write(tmp_path, "app-alice/big.bin", b"x" * 1001)
    files = LocalFiles(str(tmp_path), max_file=1000, settle_seconds=SETTLE)
    assert settled(files, "app-alice/big.bin") == Found(1001, None)
    assert len(files) == 0


def test_cache_stays_within_its_byte_budget_least_recently_used_out(tmp_path: Path) -> None:
    budget = 20_000
    files = LocalFiles(str(tmp_path), max_file=4096, max_bytes=budget, settle_seconds=SETTLE)
    keys = [f"tuf_metadata/alice/app/{n}.targets.json" for n in range(100)]
    for key in keys:
        write(tmp_path, key, b"t" * 4000)
    time.sleep(SETTLE * 2)
    for key in keys:
        assert files.read(key) == Found(4000, b"t" * 4000)
        assert files.cached_bytes <= budget
    assert 0 < len(files) <= budget // 4000
    # The most recent reads stay; the first ones were evicted, and still read right.
    assert files.read(keys[0]) == Found(4000, b"t" * 4000)
    assert files.cached_bytes <= budget


def test_empty_files_count_against_the_budget(tmp_path: Path) -> None:
    files = LocalFiles(str(tmp_path), max_bytes=10_000, settle_seconds=SETTLE)
    keys = [f"tuf_metadata/alice/app/{n}.json" for n in range(200)]
    for key in keys:
        write(tmp_path, key, b"")
    time.sleep(SETTLE * 2)
    for key in keys:
        assert files.read(key) == Found(0, b"")
    assert files.cached_bytes <= 10_000 and len(files) < 200


@pytest.mark.parametrize("name", ["timestamp.json#1", "timestamp.json#123456", "x#0"])
def test_partial_files_of_interrupted_writes_are_never_served(tmp_path: Path, name: str) -> None:
    key = f"tuf_metadata/alice/app/{name}"
    write(tmp_path, key, b"half")
    assert is_partial_name(key)
    files = LocalFiles(str(tmp_path))
    assert files.read(key) is None and files.stat(key) is None


@pytest.mark.parametrize("name", ["a#b", "x.json#", "a#1x", "a b.json", "ü.json", "%2e%2e"])
async def test_other_names_are_read_verbatim_as_obstore_writes_them(
    tmp_path: Path, name: str
) -> None:
    key = f"tuf_metadata/alice/app/{name}"
    assert not is_partial_name(key)
    store = open_store(tmp_path.as_uri())
    await store.put(key, name.encode())
    assert LocalFiles(str(tmp_path)).read(key) == Found(len(name.encode()), name.encode())


def test_symbolic_links_and_folders_are_not_files(tmp_path: Path) -> None:
    secret = write(tmp_path, "tuf_private/secret.json", b"secret")
    link = tmp_path / "tuf_metadata/alice/app/link.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    files = LocalFiles(str(tmp_path))
    assert files.read("tuf_metadata/alice/app/link.json") is None
    assert files.stat("tuf_metadata/alice/app/link.json") is None
    assert files.read("tuf_metadata/alice/app") is None
    assert files.read("tuf_metadata/alice/app/link.json/x") is None
