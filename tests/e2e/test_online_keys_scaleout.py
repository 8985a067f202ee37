"""Online keys made by the server in scale-out: 2 API processes and 2 workers sharing one
online key dir (a path setting), on Redis, PostgreSQL and S3 (moto).

Keys made through one API process are listed by the other and used by the workers;
the bound on unused keys holds when both processes make keys at once (the
online-keys lock lives in Redis).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from securesystemslib.signer import SSlibKey

from tests.e2e.test_scale_out import Cluster, clients, cluster  # noqa: F401  (fixture)
from tests.support import ceremony
from tufsync.keyholder.verify import verify_download

pytestmark = pytest.mark.slow
ROUTE = "/tuf/v1/keys/online"
UNUSED_MAX = 20  # the default of TUFSYNC_UNUSED_ONLINE_KEYS_MAX


def test_server_keys_across_processes(cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
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
