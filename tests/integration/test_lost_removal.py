"""A removal from TUF that was lost or failed never lets a listed file be overwritten.

Whether a target path may be written is decided by what the published metadata
lists: an upload over a path TUF lists with other content is refused (409), and
a removal whose task was lost (state store wiped) or failed after its deletion
committed is started again, by the claims sweep or by that refused upload.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path

import httpx

from tests.crash import Crashable
from tests.support import Api, ceremony, unique_name
from tufsync import tenant_keys

APP = "lostrm"
OLD = b"old signed bytes"
NEW = b"new other bytes, another length"


def _published(node: Crashable) -> tuple[Api, str, str]:
    """A bootstrapped app with one published artifact: (api, version id, its path)."""
    assert node.server is not None
    api = Api(node.server, unique_name("lr"))
    api.bootstrap_ok(ceremony(node.data_dir / "keys", api.username, APP).payload)
    vid = api.upload_ok(APP, "1.0", {"pkg.bin": OLD})
    api.publish_ok(vid, "1.0")
    path = f"{APP}-{api.username}/{APP}-1.0.bin"
    assert path in node.listed_targets(api.username, APP)
    return api, vid, path


def _delete_and_lose_the_removal(node: Crashable, api: Api, vid: str) -> None:
    """Delete the artifact, SIGKILL right after the deletion committed, and lose the
    removal task's record (the state store's task records are wiped)."""
    body = {"id": vid, "app_name": APP, "version": "1.0", "artifacts_to_delete": ["0"]}

    def delete() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server is killed while it answers
            api.post("/artifact/delete", json=body)

    thread = threading.Thread(target=delete, daemon=True)
    thread.start()
    node.wait_log("test pause at registry_delete:committed")
    node.kill()
    thread.join(timeout=10)
    node.wipe_task_records()


def _restart(node: Crashable, api: Api) -> None:
    node.start()
    api.server = node.server  # type: ignore[assignment]
    node.settle()


def test_a_removal_lost_with_the_state_store_is_run_again_by_the_claims_sweep(
    crashable: Crashable,
) -> None:
    crashable.start(pause="registry_delete:committed=60")
    api, vid, path = _published(crashable)
    _delete_and_lose_the_removal(crashable, api, vid)
    _restart(crashable, api)
    # The claim outlived its task; the path has no row but TUF lists it: removed all the same.
    assert path not in crashable.listed_targets(api.username, APP)
    assert not (crashable.data_dir / "public" / path).exists()
    assert crashable.registry_rows("SELECT tuf_path FROM tuf_claims") == []
    api.upload_ok(APP, "1.0", {"pkg.bin": NEW})
    crashable.assert_listed_files_match(api.username, APP)


def test_an_upload_over_a_path_tuf_still_lists_is_refused_and_restarts_the_removal(
    crashable: Crashable,
) -> None:
    crashable.start(pause="registry_delete:committed=60")
    api, vid, path = _published(crashable)
    _delete_and_lose_the_removal(crashable, api, vid)
    # Neither task nor claim is left (as an older claims sweep left it): only TUF knows.
    crashable.registry_rows("DELETE FROM tuf_claims")
    _restart(crashable, api)
    assert path in crashable.listed_targets(api.username, APP)
    refused = api.upload(APP, "1.0", {"pkg.bin": NEW})
    assert refused.status_code == 409, refused.text
    message = refused.json()["error"]
    assert f"Artifact {path} is still listed by TUF with other content" in message
    assert "its removal from TUF was started again (task " in message
    crashable.settle()
    assert path not in crashable.listed_targets(api.username, APP)
    assert not (crashable.data_dir / "public" / path).exists()
    api.upload_ok(APP, "1.0", {"pkg.bin": NEW})
    crashable.assert_listed_files_match(api.username, APP)


def test_an_upload_of_the_listed_bytes_is_not_refused(crashable: Crashable) -> None:
    crashable.start(pause="registry_delete:committed=60")
    api, vid, path = _published(crashable)
    _delete_and_lose_the_removal(crashable, api, vid)
    crashable.registry_rows("DELETE FROM tuf_claims")
    _restart(crashable, api)
    api.upload_ok(APP, "1.0", {"pkg.bin": OLD})  # what TUF lists: nothing to protect
    assert path in crashable.listed_targets(api.username, APP)
    crashable.assert_listed_files_match(api.username, APP)


def test_a_removal_that_fails_after_the_deletion_keeps_its_claims_until_it_is_done(
    crashable: Crashable, tmp_path: Path
) -> None:
    crashable.start()
    api, vid, path = _published(crashable)
    keys = tenant_keys.key_folder(
        crashable.data_dir / "keys", tenant_keys.TenantRef(api.username, APP)
    )
    shutil.move(keys, tmp_path / "keys")  # the removal cannot sign: it fails
    body = {"id": vid, "app_name": APP, "version": "1.0", "artifacts_to_delete": ["0"]}
    deleted = api.post("/artifact/delete", json=body)
    assert deleted.status_code == 200, deleted.text
    task = api.wait_task(deleted.json()["task_id"])
    assert task["state"] == "FAILURE", task
    # The row is gone, TUF still lists the path: the claim stays, so no upload replaces it.
    assert path in crashable.listed_targets(api.username, APP)
    assert crashable.registry_rows("SELECT tuf_path FROM tuf_claims") == [(path,)]
    refused = api.upload(APP, "1.0", {"pkg.bin": NEW})
    assert refused.status_code == 409, refused.text
    assert (crashable.data_dir / "public" / path).read_bytes() == OLD
    shutil.move(tmp_path / "keys", keys)
    crashable.stop()
    _restart(crashable, api)  # the start-up sweep hands the claim to a new removal
    assert path not in crashable.listed_targets(api.username, APP)
    assert not (crashable.data_dir / "public" / path).exists()
    api.upload_ok(APP, "1.0", {"pkg.bin": NEW})
    crashable.assert_listed_files_match(api.username, APP)
