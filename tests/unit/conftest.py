"""Engine fixtures without HTTP: local object store, SQLite state, tmp key folders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from tufsync.state.sqlite import SqliteStateStore
from tufsync.storage import open_store
from tufsync.tuf.keys import OnlineKeyStore
from tufsync.tuf.metastore import MetadataCache
from tufsync.tuf.repository import Engine


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class LocalFetcher(FetcherInterface):
    """Lets ngclient read the local object store directory instead of HTTP."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = self.root / url.removeprefix("local://")
        if not path.is_file():
            raise DownloadHTTPError(f"{url} not found", 404)
        yield path.read_bytes()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def engine(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Engine]:
    state = await SqliteStateStore.open(str(tmp_path / "state.db"))
    storage = open_store((tmp_path / "public").as_uri())
    yield Engine(storage, state, OnlineKeyStore(tmp_path / "keys"), MetadataCache(), clock)
    await state.close()


def client_updater(
    public: Path, admin: str, app: str, root: bytes, workdir: Path, ref_time: datetime | None = None
) -> Updater:
    """An ngclient Updater over the local public directory."""
    meta = workdir / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    bootstrap = None if (meta / "root.json").exists() else root
    return Updater(
        metadata_dir=str(meta),
        metadata_base_url=f"local://tuf_metadata/{admin}/{app}/",
        target_base_url="local://",
        target_dir=str(workdir),
        fetcher=LocalFetcher(public),
        config=UpdaterConfig(prefix_targets_with_hash=False),
        bootstrap=bootstrap,
    )
