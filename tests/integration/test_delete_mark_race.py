"""A plain delete racing the publish batch's marks.

``/artifact/delete`` reads the version's artifacts, then the claims on their
paths. On SQLite (and at READ COMMITTED) each SELECT sees its own snapshot. A
publish batch that committed its marks and released its claims between the two
reads made the deletion see the row unsigned and unclaimed: it deleted row and
file directly while TUF listed the path (e2e test_crash_consistency, "TUF lists
<path> but its file is missing"). The test-only pauses hold the publish task at
its start and the deletion between its two reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.crash import Crashable
from tests.support import Api, ceremony, unique_name

APP = "delrace"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Crashable]:
    crashable = Crashable(tmp_path / "data")
    try:
        yield crashable
    finally:
        crashable.stop()


def test_delete_between_its_reads_and_a_publish_commit_keeps_listed_files(
    node: Crashable,
) -> None:
    node.start(pause="add_artifacts:started=2,registry_delete:read=5")
    assert node.server is not None
    api = Api(node.server, unique_name("dr"))
    cer = ceremony(node.data_dir / "keys", api.username, APP)
    api.bootstrap_ok(cer.payload)
    vid = api.upload_ok(APP, "1.0", {"pkg.bin": b"bytes to sign"})
    path = f"{APP}-{api.username}/{APP}-1.0.bin"
    response = api.post("/tuf/v1/artifacts/publish", json={"app_id": vid, "version": "1.0"})
    assert response.status_code == 202, response.text
    publish_id = response.json()["data"]["task_id"]
    body = {"id": vid, "app_name": APP, "version": "1.0", "artifacts_to_delete": ["0"]}
    answers: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: answers.append(api.post("/artifact/delete", json=body)), daemon=True
    )
    thread.start()  # reads the row unsigned, pauses, then reads the claims
    node.wait_log("test pause at registry_delete:read")
    assert api.wait_task(publish_id, timeout=30)["state"] == "SUCCESS"
    thread.join(timeout=30)
    assert answers and answers[0].status_code in (200, 409), answers
    removal = answers[0].json().get("data", answers[0].json()).get("task_id")
    if removal:
        assert api.wait_task(str(removal), timeout=30)["state"] == "SUCCESS"
    listed = node.listed_targets(api.username, APP)
    file = node.data_dir / "public" / path
    assert path not in listed or file.is_file(), "TUF lists the path but its file is missing"
    assert path not in listed, "the deletion answered 200 but TUF still lists the path"
