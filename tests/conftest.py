"""Shared fixtures: one real tufsync server per test session (embedded mode)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import Api, FakeClock, ServerProcess, run_server, unique_name

pytest_plugins = ["tests.scaleout"]

UPLOAD_LIMIT = 4 * 1024 * 1024


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("tufsync-server")
    with run_server(data_dir, {"TUFSYNC_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}) as proc:
        yield proc


@pytest.fixture
def make_api(server: ServerProcess) -> Callable[[], Api]:
    def factory() -> Api:
        return Api(server, unique_name())

    return factory


@pytest.fixture
def api(make_api: Callable[[], Api]) -> Api:
    return make_api()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
