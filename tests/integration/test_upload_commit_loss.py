"""An upload whose COMMIT reached PostgreSQL but whose answer was lost with the
connection keeps its files (scale-out: PostgreSQL + S3 + Redis).

A proxy between the server and PostgreSQL (:class:`tests.scaleout.PgProxy`)
passes the upload's COMMIT on and drops the connection when PostgreSQL has
answered it. The upload then asks on a new connection whether its rows exist:
they do, so it answers 200 and its files stay. When the database cannot be
reached for that question either, the upload answers 503 and keeps its files
(a row without its file is never left; docs/design.md invariant 9).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.scaleout import PgProxy, S3Endpoint
from tests.support import Api, ServerProcess, run_server, unique_name

APP = "commitloss"
DATA = b"bytes whose commit answer is lost"
# The first statement of an upload that only an upload's transaction sends.
MARKER = b"INSERT INTO artifacts"


@pytest.fixture
def server(
    tmp_path: Path, s3: S3Endpoint, pg_url: str, redis_db: str, pg_proxy: PgProxy
) -> Iterator[ServerProcess]:
    env = {
        "TUFSYNC_REDIS_URL": redis_db,
        "TUFSYNC_DATABASE_URL": pg_proxy.url(pg_url),
        "TUFSYNC_STORAGE_URL": s3.storage_url(f"commitloss-{tmp_path.name}"),
        "TUFSYNC_JWT_SECRET": "commitloss-secret-0123456789abcdef0123456789",
        **s3.env(),
    }
    subprocess.run(
        [sys.executable, "-m", "tufsync", "db", "upgrade"],
        env={**os.environ, **env, "TUFSYNC_DATABASE_URL": pg_url},
        check=True,
        capture_output=True,
    )
    with run_server(tmp_path / "api", env) as server:
        yield server


def _downloads(api: Api, version_id: str) -> list[bytes]:
    """The bytes behind each artifact link of the version (what an updater fetches)."""
    artifacts = api.version(APP, version_id)["Artifacts"]
    return [httpx.get(a["link"], timeout=30).content for a in artifacts]


def test_an_upload_whose_commit_answer_is_lost_keeps_its_files(
    server: ServerProcess, pg_proxy: PgProxy
) -> None:
    api = Api(server, unique_name("cl"))
    pg_proxy.lose_commit_answer(MARKER)
    response = api.upload(APP, "1.0", {"pkg.bin": DATA})
    assert pg_proxy.lost.is_set()
    assert response.status_code == 200, response.text  # the commit landed: it is done
    version_id = str(response.json()["uploadResult.Uploaded"])
    assert _downloads(api, version_id) == [DATA]


def test_an_upload_whose_commit_cannot_be_confirmed_keeps_its_files(
    server: ServerProcess, pg_proxy: PgProxy
) -> None:
    api = Api(server, unique_name("cl"))
    pg_proxy.lose_commit_answer(MARKER, then_cut_off=True)
    response = api.upload(APP, "1.0", {"pkg.bin": DATA})
    assert pg_proxy.lost.is_set()
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "Database unavailable; try again later"
    pg_proxy.heal()
    # The row exists after all: its file is there, and the upload again is accepted.
    again = api.upload(APP, "1.0", {"pkg.bin": DATA})
    assert again.status_code == 200, again.text
    assert _downloads(api, str(again.json()["uploadResult.Uploaded"])) == [DATA]
