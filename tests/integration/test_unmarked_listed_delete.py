"""Deleting an artifact that TUF lists but the registry does not mark signed.

A SIGKILL after a publish made its metadata public but before the registry
wrote its signed marks, with the task record lost (state store wiped), leaves
a row marked unsigned whose path the published metadata lists. A deletion
decides from what TUF lists, not from the mark: the path goes through a
removal task, and its file stays until TUF no longer lists it (docs/design.md
invariant 9). The test-only pause ``add_artifacts:published`` holds the
publish right after its metadata change.
"""

from __future__ import annotations

from tests.crash import Crashable
from tests.support import Api, ceremony, unique_name

APP = "unmarked"


def _listed_but_unmarked(node: Crashable) -> tuple[Api, str, str]:
    """Publish one artifact, SIGKILL once its metadata is public and lose the task's
    record; return (api, version id, path) after the restart."""
    node.start(pause="add_artifacts:published=60")
    assert node.server is not None
    api = Api(node.server, unique_name("um"))
    api.bootstrap_ok(ceremony(node.data_dir / "keys", api.username, APP).payload)
    vid = api.upload_ok(APP, "1.0", {"pkg.bin": b"published bytes"})
    body = {"app_id": vid, "version": "1.0"}
    assert api.post("/tuf/v1/artifacts/publish", json=body).status_code == 202
    node.wait_log("test pause at add_artifacts:published")
    node.kill()
    node.wipe_task_records()
    node.start()
    api.server = node.server  # type: ignore[assignment]
    node.settle()
    path = f"{APP}-{api.username}/{APP}-1.0.bin"
    assert path in node.listed_targets(api.username, APP)
    sql = "SELECT tuf_signed FROM artifacts WHERE tuf_path = ?"
    assert node.registry_rows(sql, path) == [(0,)]  # the marks were never written
    assert node.registry_rows("SELECT tuf_path FROM tuf_claims") == []  # swept at start
    return api, vid, path


def test_deleting_a_listed_artifact_marked_unsigned_removes_it_from_tuf_first(
    crashable: Crashable,
) -> None:
    api, vid, path = _listed_but_unmarked(crashable)
    body = {"id": vid, "app_name": APP, "version": "1.0", "artifacts_to_delete": ["0"]}
    deleted = api.post("/artifact/delete", json=body)
    assert deleted.status_code == 200, deleted.text
    crashable.assert_listed_files_match(api.username, APP)  # never a listed path without file
    crashable.settle()
    assert path not in crashable.listed_targets(api.username, APP)
    assert not (crashable.data_dir / "public" / path).exists()
    assert crashable.registry_rows("SELECT tuf_path FROM tuf_claims") == []


def test_deleting_the_app_of_a_listed_artifact_marked_unsigned_removes_it_from_tuf_first(
    crashable: Crashable,
) -> None:
    api, _vid, path = _listed_but_unmarked(crashable)
    app_id = api.get("/app/list").json()["apps"][0]["ID"]
    deleted = api.http.delete("/app/delete", params={"id": app_id})
    assert deleted.status_code == 200, deleted.text
    crashable.assert_listed_files_match(api.username, APP)
    crashable.settle()
    assert path not in crashable.listed_targets(api.username, APP)
    assert not (crashable.data_dir / "public" / path).exists()


def test_a_lost_removal_from_tuf_leaves_no_row_marked_signed(crashable: Crashable) -> None:
    """``POST /tuf/v1/artifacts/delete`` killed once its change is public, its task record
    lost: the start-up sweep of its claims unsigns the row TUF no longer lists."""
    crashable.start(pause="remove_artifacts:published=60")
    assert crashable.server is not None
    api = Api(crashable.server, unique_name("ur"))
    api.bootstrap_ok(ceremony(crashable.data_dir / "keys", api.username, APP).payload)
    vid = api.upload_ok(APP, "1.0", {"pkg.bin": b"signed, then removed"})
    api.publish_ok(vid, "1.0")
    path = f"{APP}-{api.username}/{APP}-1.0.bin"
    body = {"id": vid, "app_name": APP, "version": "1.0", "artifacts_to_delete": ["0"]}
    assert api.post("/tuf/v1/artifacts/delete", json=body).status_code == 202
    crashable.wait_log("test pause at remove_artifacts:published")
    crashable.kill()
    crashable.wipe_task_records()
    crashable.start()
    crashable.settle()
    assert path not in crashable.listed_targets(api.username, APP)
    sql = "SELECT tuf_signed FROM artifacts WHERE tuf_path = ?"
    assert crashable.registry_rows(sql, path) == [(0,)]
    assert crashable.registry_rows("SELECT tuf_path FROM tuf_claims") == []
