"""Shared fixtures: one real tufsync server per test session (embedded mode), and a
server of a test's own that the test may SIGKILL (``crashable``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.crash import Crashable
from tests.support import Api, FakeClock, ServerProcess, run_server, unique_name

pytest_plugins = ["tests.scaleout"]

UPLOAD_LIMIT = 4 * 1024 * 1024


@pytest.fixture
def crashable(tmp_path: Path) -> Iterator[Crashable]:
    """An embedded server in ``tmp_path/data`` the test starts, kills and restarts."""
    node = Crashable(tmp_path / "data")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("tufsync-server")
    env = {
        "TUFSYNC_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        # Every test signs up and logs in from 127.0.0.1, and the fuzz test sends
        # hundreds of failing logins: the shared server allows that many.
        "TUFSYNC_LOGIN_LIMIT_PER_CLIENT": "100000/minute",
        "TUFSYNC_LOGIN_LIMIT_PER_USERNAME": "100000/minute",
    }
    with run_server(data_dir, env) as proc:
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
