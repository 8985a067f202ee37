"""SIGKILL between a deletion's commit and its removal task.

``/artifact/delete`` of a TUF-signed artifact deletes the registry row and
claims the path in one transaction; a task then removes the path from TUF and
deletes the file. A process killed right after that commit must not leave a
path that TUF lists with no row and no claim: a re-upload of the same version
would overwrite the file TUF lists (its length and hashes would no longer
match). The test-only pause ``registry_delete:committed`` holds the request
right after the commit.
"""

from __future__ import annotations

import contextlib
import threading

import httpx

from tests.crash import Crashable
from tests.support import Api, ceremony, unique_name

APP = "delcrash"


def test_sigkill_after_a_deletion_commits_keeps_tuf_and_files_consistent(
    crashable: Crashable,
) -> None:
    crashable.start(pause="registry_delete:committed=60")
    assert crashable.server is not None
    api = Api(crashable.server, unique_name("dc"))
    cer = ceremony(crashable.data_dir / "keys", api.username, APP)
    api.bootstrap_ok(cer.payload)
    vid = api.upload_ok(APP, "1.0", {"pkg.bin": b"old signed bytes"})
    api.publish_ok(vid, "1.0")
    path = f"{APP}-{api.username}/{APP}-1.0.bin"
    assert path in crashable.listed_targets(api.username, APP)
    body = {"id": vid, "app_name": APP, "version": "1.0", "artifacts_to_delete": ["0"]}

    def delete() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server is killed while it answers
            api.post("/artifact/delete", json=body)

    thread = threading.Thread(target=delete, daemon=True)
    thread.start()
    crashable.wait_log("test pause at registry_delete:committed")
    crashable.kill()
    thread.join(timeout=10)
    crashable.start()
    api.server = crashable.server  # type: ignore[assignment]
    crashable.settle()
    # The deletion committed: its removal from TUF still happens after the crash.
    assert path not in crashable.listed_targets(api.username, APP)
    assert not (crashable.data_dir / "public" / path).exists()
    new = b"new other bytes, another length"
    api.upload_ok(APP, "1.0", {"pkg.bin": new})
    crashable.assert_listed_files_match(api.username, APP)
