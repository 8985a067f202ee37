"""Storage really out of space answers 503 with a sentence, never 500 (README "Limits").

The object store and the SQLite database each live on a small tmpfs mounted for
this test (CI runs as root; a machine where ``mount`` fails fails this test, it is
never skipped). Filling them makes uploads fail while staging (one put, and a
streamed write), a publish task fail with a plain sentence, and a database write
fail with SQLITE_FULL; freeing space makes everything work again.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Api, ServerProcess, ceremony, run_server, unique_name
from tufsync import tenant_keys

MIB = 1024 * 1024


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    mounted: list[Path] = []
    try:
        for name, size in (("store", "8m"), ("db", "8m")):
            point = tmp_path / name
            point.mkdir()
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                pytest.fail(f"cannot mount a tmpfs (this test needs root): {done.stderr.strip()}")
            mounted.append(point)
        yield mounted[0], mounted[1]
    finally:
        for point in reversed(mounted):
            subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture
def small_disks(tmp_path: Path, tmpfs: tuple[Path, Path]) -> Iterator[ServerProcess]:
    store, db = tmpfs
    env = {
        "TUFSYNC_STORAGE_URL": store.as_uri(),
        "TUFSYNC_DATABASE_URL": f"sqlite+aiosqlite:///{db / 'tufsync.db'}",
        "TUFSYNC_DISK_RESERVE_BYTES": "0",
        "TUFSYNC_MAX_UPLOAD_BYTES": str(16 * MIB),
    }
    with run_server(tmp_path / "data", env) as server:
        yield server


def fill(folder: Path) -> Path:
    """Write a file that takes all the free space of ``folder``'s filesystem."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    block = b"\0" * MIB
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError:
                if len(block) == 4096:
                    break
                block = block[: len(block) // 2]
    finally:
        os.close(fd)
    return filler


def assert_out_of_space(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "Storage is full; try again later.", body
    assert "storage is full" in body["message"], body


def test_full_storage_is_503_and_a_task_fails_with_a_sentence(
    small_disks: ServerProcess, tmpfs: tuple[Path, Path]
) -> None:
    store, db = tmpfs
    api = Api(small_disks, unique_name())
    api.bootstrap_ok(ceremony(small_disks.key_dir, api.username, "disk").payload)
    version_id = api.upload_ok("disk", "1.0", {"a.bin": b"publish me"})

    filler = fill(store)
    # A streamed write (several chunks) and a single put (one chunk).
    assert_out_of_space(api.upload("disk", "2.0", {"a.bin": b"s" * (3 * MIB)}))
    assert_out_of_space(api.upload("disk", "3.0", {"a.bin": b"one put" * 1000}))
    items = api.get("/search", params={"app_name": "disk"}).json()["items"]
    assert [v["Version"] for v in items] == ["1.0"]
    assert not list((store / tenant_keys.STAGING_PREFIX).rglob("*"))

    response = api.post("/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "1.0"})
    assert response.status_code == 202, response.text
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "FAILURE", task
    assert "storage is full" in str(task["result"]), task
    filler.unlink()

    db_filler = fill(db)
    answers = [api.post("/app/create", json={"app": f"new{i}"}) for i in range(20)]
    assert all(a.status_code in (200, 503) for a in answers), [a.text for a in answers]
    assert_out_of_space(next(a for a in answers if a.status_code == 503))
    db_filler.unlink()

    # Space freed: everything works again.
    assert api.post("/app/create", json={"app": "after"}).status_code == 200
    api.upload_ok("disk", "4.0", {"a.bin": b"s" * (3 * MIB)})
    api.publish_ok(version_id, "1.0")
