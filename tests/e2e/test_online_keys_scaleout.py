"""Keys in scale-out: 2 API processes and 2 workers sharing one online key dir (a path
setting), on Redis, PostgreSQL and S3 (moto); the tests of this module share one cluster.

Keys made through one API process are listed by the other and used by the workers;
the bound on unused keys holds when both processes make keys at once (the
online-keys lock lives in Redis). A role whose keys the server does not hold gets
its releases as drafts its holders sign through either process (docs/api.md §5.3);
python-tuf's ngclient and tuf-js then download what was signed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from securesystemslib.signer import CryptoSigner, Signer, SSlibKey
from tuf.api.exceptions import RepositoryError

from tests.e2e.test_tufjs_client import tufjs
from tests.scaleout import Cluster, S3Endpoint, clients, flushed_redis_db, running_cluster
from tests.support import Api, ceremony, offline_role, sign_pending
from tufsync.keyholder.verify import TargetNotFound, verify_download

pytestmark = pytest.mark.slow
ROUTE = "/tuf/v1/keys/online"
UNUSED_MAX = 20  # the default of TUFSYNC_UNUSED_ONLINE_KEYS_MAX


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, s3: S3Endpoint, pg_url: str
) -> Iterator[Cluster]:
    """One cluster for the module (each test uses admins of its own): a start costs
    about 10 s on 2 cores. Its scheduler passes every 0.5 s, so offline roles near
    their expiry get their renewal drafts within seconds (every 20 passes)."""
    with flushed_redis_db() as redis_url:
        root = tmp_path_factory.mktemp("keys-cluster")
        fast = {"TUFSYNC_REFRESH_INTERVAL_SECONDS": "0.5"}
        with running_cluster(root, s3, pg_url, redis_url, fast) as started:
            yield started


def test_server_keys_across_processes(cluster: Cluster, tmp_path: Path) -> None:
    api = clients(cluster)
    made = api[0].post(ROUTE, params={"appName": "alpha"}, json={})
    assert made.status_code == 201, made.text
    key = SSlibKey.from_dict(made.json()["data"]["keyid"], dict(made.json()["data"]["key"]))
    listed = api[1].get(ROUTE, params={"appName": "alpha"}).json()["data"]["keys"]
    assert [k["keyid"] for k in listed] == [key.keyid]

    cer = ceremony(cluster.key_dir, api[1].username, "alpha", online_key=key)
    api[1].bootstrap_ok(cer.payload)
    version_id = api[1].upload_ok("alpha", "1.0", {"pkg.bin": b"alpha 1.0"})
    api[0].publish_ok(version_id, "1.0")
    trusted = tmp_path / "alpha.json"
    trusted.write_bytes(cer.root_bytes)
    target = f"alpha-{api[0].username}/alpha-1.0.bin"
    verified = verify_download(
        cluster.apis[0].public_url, api[0].username, "alpha", trusted, target, tmp_path / "dl"
    )
    assert verified.length == len(b"alpha 1.0")
    listed = api[0].get(ROUTE, params={"appName": "alpha"}).json()["data"]["keys"]
    assert "timestamp" in listed[0]["roles"]
    assert (
        api[1].http.delete(ROUTE, params={"appName": "alpha", "keyid": key.keyid}).status_code
        == 409
    )

    # Both API processes make keys of one app at once: the bound still holds.
    def make(i: int) -> int:
        return api[i % 2].post(ROUTE, params={"appName": "beta"}, json={}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(make, range(UNUSED_MAX + 8)))
    assert statuses.count(201) == UNUSED_MAX, statuses
    assert statuses.count(409) == 8, statuses
    assert len(api[1].get(ROUTE, params={"appName": "beta"}).json()["data"]["keys"]) == UNUSED_MAX


def _artifact(api: Api, app: str, version_id: str) -> dict[str, Any]:
    return dict(api.version(app, version_id)["Artifacts"][0])


def _signed_by_both(api: list[Api], app: str, holders: list[Signer]) -> dict[str, Any]:
    """The first holder signs through one API process (threshold not met yet), the
    second through the other; the finalize task's result."""
    first = sign_pending(api[1], app, "default", holders[0])
    assert first.status_code == 400, first.text
    assert "1/2 signatures collected" in first.json()["error"]
    done = sign_pending(api[0], app, "default", holders[1])
    assert done.status_code == 200, done.text
    # Answered once a worker published it: no draft is left for the signing queue.
    queue = api[1].get("/tuf/v1/metadata/sign", params={"appName": app}).json()
    assert queue["data"] is None, queue
    finished = api[1].wait_task(done.json()["data"]["task_id"])
    assert finished["state"] == "SUCCESS" and done.elapsed.total_seconds() < 30, finished
    assert finished["state"] == "SUCCESS", finished
    return finished


def test_offline_role_releases_across_processes(cluster: Cluster, tmp_path: Path) -> None:
    """Bootstrap with ``default`` offline (threshold 2), two publishes into one draft,
    two holders sign, ngclient and tuf-js download; a removal stays published until
    signed."""
    api = clients(cluster)
    app = "offline"
    holders: list[Signer] = [CryptoSigner.generate_ed25519() for _ in range(2)]
    setup = offline_role(api[0], app, holders, 2, key_dir=cluster.key_dir)
    api[1].bootstrap_ok(setup.payload)
    trusted = tmp_path / "root.json"
    trusted.write_bytes(setup.root_bytes)
    public = cluster.apis[0].public_url
    paths = [f"{app}-{api[0].username}/{app}-{v}.deb" for v in ("1.0", "2.0")]

    ids = []
    for i, version in enumerate(("1.0", "2.0")):
        vid = api[i].upload_ok(app, version, {"a.deb": f"offline {version}".encode()})
        task = api[1 - i].publish_ok(vid, version)
        assert task["result"]["details"]["awaiting_signatures"] == {"default": 2}, task
        assert task["result"]["details"]["awaiting_artifacts"] == [paths[i]], task
        row = _artifact(api[i], app, vid)
        assert row["TufSigned"] is False and row["TufAwaitingSignatures"] == "default"
        ids.append(vid)
    pending = api[1].get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]
    assert sorted(pending["metadata"]["default"]["signed"]["targets"]) == paths
    with pytest.raises((RepositoryError, TargetNotFound)):
        verify_download(public, api[0].username, app, trusted, paths[0], tmp_path / "early")

    finished = _signed_by_both(api, app, holders)
    assert sorted(finished["result"]["details"]["signed_artifacts"]) == paths
    for vid in ids:
        row = _artifact(api[0], app, vid)
        assert row["TufSigned"] is True and row["TufAwaitingSignatures"] is None
    js = tmp_path / "js"
    (js / "meta").mkdir(parents=True)
    (js / "targets").mkdir()
    shutil.copy(trusted, js / "meta" / "root.json")
    downloaded = tufjs(api[0], app, js, paths)
    for result, path in zip(downloaded["results"], paths, strict=True):
        assert result["ok"], result
        ng = verify_download(public, api[0].username, app, trusted, path, tmp_path / "ng" / path)
        assert Path(result["file"]).read_bytes() == ng.local_file.read_bytes()

    # A removal waits for the holders too: the artifact stays published until they sign.
    body = {"id": ids[0], "app_name": app, "version": "1.0", "artifacts_to_delete": ["0"]}
    removal = api[1].post("/tuf/v1/artifacts/delete", json=body)
    assert removal.status_code == 202, removal.text
    task = api[0].wait_task(removal.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["result"]["details"]["awaiting_artifacts"] == [paths[0]]
    verify_download(public, api[0].username, app, trusted, paths[0], tmp_path / "still")
    finished = _signed_by_both(api, app, holders)
    assert finished["result"]["details"]["unlisted_artifacts"] == [paths[0]]
    with pytest.raises((RepositoryError, TargetNotFound)):
        verify_download(public, api[0].username, app, trusted, paths[0], tmp_path / "gone")
    assert _artifact(api[0], app, ids[0])["TufSigned"] is False
    # Removed from TUF only: its file and row stay (docs/api.md §5.3).
    assert httpx.get(f"{public}/{paths[0]}").content == b"offline 1.0"
    again = tufjs(api[0], app, js, paths[1:])
    assert again["results"][0]["ok"], again


def test_offline_role_gets_its_renewal_draft_across_processes(
    cluster: Cluster, tmp_path: Path
) -> None:
    """An offline role expiring within the renewal horizon (the expiry-warning horizon,
    30 days) gets a renewal draft from the scheduler, which its holders sign."""
    api = clients(cluster)
    app = "renew"
    holders: list[Signer] = [CryptoSigner.generate_ed25519() for _ in range(2)]
    setup = offline_role(api[0], app, holders, 2, key_dir=cluster.key_dir, days=10)
    api[1].bootstrap_ok(setup.payload)
    deadline = time.monotonic() + 30
    drafts: dict[str, Any] | None = None
    while drafts is None and time.monotonic() < deadline:
        time.sleep(0.25)
        drafts = api[0].get("/tuf/v1/metadata/sign", params={"appName": app}).json()["data"]
    assert drafts is not None, "no renewal draft within 30 s"
    renewal, trusted = drafts["metadata"]["default"], drafts["metadata"]["trusted_default"]
    assert renewal["signed"]["version"] == 2
    assert renewal["signed"]["targets"] == trusted["signed"]["targets"]
    assert renewal["signed"]["expires"] > trusted["signed"]["expires"]
    _signed_by_both(api, app, holders)
    public = cluster.apis[0].public_url
    published = httpx.get(f"{public}/tuf_metadata/{api[0].username}/{app}/2.default.json")
    assert published.status_code == 200
    assert published.json()["signed"]["expires"] == renewal["signed"]["expires"]
