"""Hash-bin delegation (TAP 15): bootstrap option, publishing across bins, removal, reads."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.support import Api, ceremony
from tufsync.keyholder.verify import verify_download
from tufsync.tuf.bootstrap import recommended_bins


def meta_dir(api: Api, app: str) -> Path:
    return api.server.public_dir / "tuf_metadata" / api.username / app


def snapshot(api: Api, app: str) -> dict[str, int]:
    ts = json.loads((meta_dir(api, app) / "timestamp.json").read_bytes())
    version = ts["signed"]["meta"]["snapshot.json"]["version"]
    snap = json.loads((meta_dir(api, app) / f"{version}.snapshot.json").read_bytes())
    return {name: meta["version"] for name, meta in snap["signed"]["meta"].items()}


def test_hash_bin_repository(api: Api, tmp_path: Path) -> None:
    app = "binned"
    cer = ceremony(api.server.key_dir, api.username, app, hash_bins=16)
    api.bootstrap_ok(cer.payload)
    config = api.get("/tuf/v1/config", params={"appName": app}).json()["data"]
    assert config["hash_bins"] == {
        "number_of_bins": 16,
        "expiration": 365,
        "threshold": 1,
        "num_keys": 1,
    }
    assert config["delegated_roles"] == {}
    before = snapshot(api, app)
    assert sorted(before) == sorted([f"bins-{i:x}.json" for i in range(16)] + ["targets.json"])
    targets = api.get("/tuf/v1/metadata/targets", params={"appName": app}).json()["data"]
    succinct = targets["trusted_targets"]["signed"]["delegations"]["succinct_roles"]
    assert succinct["bit_length"] == 4 and succinct["name_prefix"] == "bins"

    version_id = api.upload_ok(app, "1.0", {f"f.x{i}": f"artifact {i}".encode() for i in range(40)})
    api.publish_ok(version_id, "1.0")
    after = snapshot(api, app)
    touched = {name for name in after if after[name] != before[name]}
    assert len(touched) > 4  # 40 artifacts land in many bins
    trusted = tmp_path / "root.json"
    trusted.write_bytes(cer.root_bytes)
    artifacts = api.version(app, version_id)["Artifacts"]
    for artifact in artifacts[:10]:
        verify_download(
            api.server.public_url,
            api.username,
            app,
            trusted,
            artifact["TufPath"],
            tmp_path / "d",
            tmp_path / "client",
        )

    # Removing one artifact from TUF touches exactly one bin.
    response = api.post(
        "/tuf/v1/artifacts/delete",
        json={"id": version_id, "app_name": app, "version": "1.0", "artifacts_to_delete": ["3"]},
    )
    assert api.wait_task(response.json()["data"]["task_id"])["state"] == "SUCCESS"
    removed = snapshot(api, app)
    changed = [name for name in removed if removed[name] != after[name]]
    assert len(changed) == 1 and changed[0].startswith("bins-")
    bin_name = changed[0].removesuffix(".json")
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": app, "roleName": bin_name}
    ).json()["data"]["trusted_delegated"]
    assert artifacts[3]["TufPath"] not in delegated["signed"]["targets"]
    assert (
        api.get(
            "/tuf/v1/metadata/delegated", params={"appName": app, "roleName": "bins-99"}
        ).status_code
        == 404
    )

    put = api.http.put(
        "/tuf/v1/config", params={"appName": app}, json={"settings": {"expiration": {"bins": 30}}}
    )
    assert put.status_code == 202
    assert api.wait_task(put.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert (
        api.get("/tuf/v1/config", params={"appName": app}).json()["data"]["hash_bins"]["expiration"]
        == 30
    )
    forced = api.post(
        "/tuf/v1/metadata/online", params={"appName": app}, json={"roles": [bin_name]}
    )
    assert forced.status_code == 200
    assert api.wait_task(forced.json()["data"]["task_id"])["state"] == "SUCCESS"


@pytest.mark.parametrize(
    ("bins", "fragment"),
    [
        ({"number_of_bins": 12}, "power of two"),
        ({"number_of_bins": 1}, "power of two"),
        ({"number_of_bins": 2**20}, "power of two"),
        ({"number_of_bins": "16"}, "power of two"),
        ({"number_of_bins": 16, "expiration": 0}, "between 1"),
        ("lots", "hash_bins"),
    ],
)
def test_hash_bin_option_validation(api: Api, bins: object, fragment: str) -> None:
    cer = ceremony(api.server.key_dir, api.username, "badbins")
    payload = copy.deepcopy(cer.payload)
    payload["settings"]["roles"]["hash_bins"] = bins
    response = api.post("/tuf/v1/bootstrap", json=payload)
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_hash_bins_exclude_explicit_delegations(api: Api) -> None:
    cer = ceremony(api.server.key_dir, api.username, "mixed")
    payload = copy.deepcopy(cer.payload)
    payload["settings"]["roles"]["hash_bins"] = {"number_of_bins": 8}
    payload["settings"]["roles"]["delegations"] = {"keys": {}, "roles": []}
    response = api.post("/tuf/v1/bootstrap", json=payload)
    assert response.status_code == 400 and "hash_bins" in response.json()["error"]


def test_recommended_bins() -> None:
    assert recommended_bins(100_000) == 1024
    assert recommended_bins(10_000) == 256
    assert recommended_bins(0) >= 2
