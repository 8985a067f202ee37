"""Publishes waiting behind one another are merged into one metadata write."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support import Api, ceremony, offline_targets
from tufsync.keyholder.verify import verify_download


def publish(api: Api, version_id: str, version: str) -> str:
    response = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": version}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["data"]["task_id"])


def test_concurrent_publishes_are_batched(api: Api, tmp_path: Path) -> None:
    app = "batched"
    cer = ceremony(api.server.key_dir, api.username, app)
    api.bootstrap_ok(cer.payload)
    uploads = [
        (api.upload_ok(app, f"3.{i}", {"p.bin": f"payload {i}".encode()}), f"3.{i}")
        for i in range(200)
    ]
    with ThreadPoolExecutor(16) as pool:
        task_ids = list(pool.map(lambda u: publish(api, *u), uploads))
    results = [api.wait_task(t, timeout=120) for t in task_ids]
    assert all(r["state"] == "SUCCESS" for r in results)
    # Each request has its own result naming its own artifact.
    for (_, version), result in zip(uploads, results, strict=True):
        assert list(result["result"]["details"]["artifacts"]) == [
            f"{app}-{api.username}/{app}-{version}.bin"
        ]
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": app, "roleName": "default"}
    ).json()["data"]["trusted_delegated"]["signed"]
    assert len(delegated["targets"]) == 200
    assert delegated["version"] - 1 < 200, "every publish wrote its own version"
    assert max(r["result"]["details"]["batch_size"] for r in results) > 1
    trusted = tmp_path / "root.json"
    trusted.write_bytes(cer.root_bytes)
    for i in (0, 99, 199):
        path = f"{app}-{api.username}/{app}-3.{i}.bin"
        verify_download(api.server.public_url, api.username, app, trusted, path, tmp_path / str(i))


def test_one_bad_artifact_fails_only_its_task(api: Api) -> None:
    app = "partial"
    offline = offline_targets(api, app, paths=[f"{app}-{api.username}/stable/*"])
    api.bootstrap_ok(offline.payload)
    good = [
        api.upload_ok(app, f"1.{i}", {"g.bin": f"good {i}".encode()}, channel="stable")
        for i in range(20)
    ]
    bad = api.upload_ok(app, "6.6.6", {"b.bin": b"not covered"}, channel="beta")
    with ThreadPoolExecutor(8) as pool:
        jobs = [(vid, f"1.{i}") for i, vid in enumerate(good)]
        jobs.insert(10, (bad, "6.6.6"))
        task_ids = list(pool.map(lambda j: publish(api, *j), jobs))
    results = {tid: api.wait_task(tid) for tid in task_ids}
    bad_task = results[task_ids[10]]
    assert bad_task["state"] == "FAILURE"
    assert "no delegated role's paths match" in bad_task["result"]["error"]
    others = [r for tid, r in results.items() if tid != task_ids[10]]
    assert all(r["state"] == "SUCCESS" for r in others)
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": app, "roleName": "releases"}
    ).json()["data"]["trusted_delegated"]["signed"]
    assert len(delegated["targets"]) == 20
    bad_artifact = api.version(app, bad)["Artifacts"][0]
    assert bad_artifact["TufSigned"] is False
