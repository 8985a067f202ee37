"""The whole user journey: upload, 2-of-3 root ceremony, bootstrap, publish, ngclient verify."""

from __future__ import annotations

from pathlib import Path

import pytest
from tuf.api.exceptions import LengthOrHashMismatchError

from tests.support import Api, ceremony
from tufsync.keyholder.verify import TargetNotFound, verify_download

pytestmark = pytest.mark.slow

ARTIFACTS = {
    ("1.0.0", "linux", "x64"): {"app.deb": b"deb 1.0 " * 1000, "app.tar.gz": b"tgz 1.0" * 333},
    ("1.1.0", "darwin", "arm64"): {"app.dmg": b"dmg 1.1 " * 2048},
}


def test_upload_bootstrap_publish_and_verify_with_ngclient(api: Api, tmp_path: Path) -> None:
    app = "desk-app"
    versions = {}
    for (version, platform, arch), files in ARTIFACTS.items():
        versions[version] = api.upload_ok(app, version, files, platform=platform, arch=arch)

    cer = ceremony(api.server.key_dir, api.username, app, root_keys=3, threshold=2)
    api.bootstrap_ok(cer.payload)
    status = api.get("/tuf/v1/bootstrap", params={"appName": app}).json()
    assert status["data"]["bootstrap"] is True
    assert status["message"] == "Bootstrap already completed for this admin."

    for version, version_id in versions.items():
        task = api.publish_ok(version_id, version)
        assert task["result"]["task"] == "add_artifacts"

    trusted_root = tmp_path / "root.json"
    trusted_root.write_bytes(cer.root_bytes)
    client_dir = tmp_path / "client"
    expected_paths = []
    for version_id in versions.values():
        listed = api.version(app, version_id)
        for artifact in listed["Artifacts"]:
            assert artifact["TufSigned"] is True
            expected_paths.append(artifact["TufPath"])
            result = verify_download(
                api.server.public_url,
                api.username,
                app,
                trusted_root,
                artifact["TufPath"],
                tmp_path / "downloads",
                metadata_dir=client_dir,
            )
            assert result.length == artifact["Length"]
            assert result.sha256 == artifact["Hashes"]["sha256"]
    assert len(expected_paths) == 3
    # faynoSync's default layout: no channel given, so no channel folder.
    assert sorted(p.rsplit("/", 1)[0] for p in expected_paths) == [
        f"{app}-{api.username}/darwin/arm64",
        f"{app}-{api.username}/linux/x64",
        f"{app}-{api.username}/linux/x64",
    ]

    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": app, "roleName": "default"}
    ).json()["data"]["trusted_delegated"]
    assert set(delegated["signed"]["targets"]) == set(expected_paths)

    # An artifact altered in the public store is refused by a fresh client: once with
    # bytes of another length, once with the same length and one byte flipped.
    first, second = (api.server.public_dir / p for p in expected_paths[:2])
    first.write_bytes(b"malicious payload of another size")
    flipped = bytearray(second.read_bytes())
    flipped[0] ^= 0xFF
    second.write_bytes(bytes(flipped))
    for n, victim in enumerate(expected_paths[:2]):
        with pytest.raises(LengthOrHashMismatchError):
            verify_download(
                api.server.public_url,
                api.username,
                app,
                trusted_root,
                victim,
                tmp_path / f"fresh-downloads-{n}",
                metadata_dir=tmp_path / f"fresh-client-{n}",
            )
    with pytest.raises(TargetNotFound):
        verify_download(
            api.server.public_url,
            api.username,
            app,
            trusted_root,
            f"{app}-{api.username}/linux/x64/{app}-9.9.9.deb",
            tmp_path / "nothing",
            metadata_dir=client_dir,
        )
