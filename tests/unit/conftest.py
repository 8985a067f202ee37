"""Engine fixtures without HTTP: local object store, SQLite state, tmp key folders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import FakeClock
from tufsync.state.sqlite import SqliteStateStore
from tufsync.storage import open_store
from tufsync.tuf.keys import OnlineKeyStore
from tufsync.tuf.metastore import MetadataCache
from tufsync.tuf.repository import Engine


@pytest.fixture
async def engine(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Engine]:
    state = await SqliteStateStore.open(str(tmp_path / "state.db"))
    storage = open_store((tmp_path / "public").as_uri())
    yield Engine(storage, state, OnlineKeyStore(tmp_path / "keys"), MetadataCache(), clock)
    await state.close()
