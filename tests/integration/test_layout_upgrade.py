"""A repository bootstrapped before the default layout left out empty segments (its
``default`` role covers only ``<prefix>*/*/*/*``) keeps verifying: old artifacts keep
their paths, and new shorter paths are still signed and verified by a TUF client."""

from __future__ import annotations

from pathlib import Path

from tests.support import Api, ceremony
from tufsync.keyholder.verify import verify_download


def test_repository_with_the_old_default_role_keeps_verifying(api: Api, tmp_path: Path) -> None:
    app = "legacy"
    prefix = f"{app}-{api.username}/"
    cer = ceremony(api.server.key_dir, api.username, app)
    keyid = cer.online_keyid
    key = cer.payload["metadata"]["root"]["signed"]["keys"][keyid]
    cer.payload["settings"]["roles"]["delegations"] = {
        "keys": {keyid: key},
        "roles": [
            {
                "name": "default",
                "terminating": True,
                "keyids": [keyid],
                "threshold": 1,
                "paths": [prefix + "*/*/*/*"],  # the layout before this release
            }
        ],
    }
    api.bootstrap_ok(cer.payload)
    # An artifact stored under the old layout (every segment given, as it was filled in).
    old = api.upload_ok(
        app, "1.0", {"a.deb": b"old layout"}, channel="default", platform="universal", arch="any"
    )
    api.publish_ok(old, "1.0")
    # A new upload without channel/platform/arch gets faynoSync's short path.
    new = api.upload_ok(app, "2.0", {"a.deb": b"new layout"})
    api.publish_ok(new, "2.0")
    trusted = tmp_path / "root.json"
    trusted.write_bytes(cer.root_bytes)
    for version, content, folders in (
        ("1.0", b"old layout", "default/universal/any/"),
        ("2.0", b"new layout", ""),
    ):
        path = f"{prefix}{folders}{app}-{version}.deb"
        got = verify_download(
            api.server.public_url, api.username, app, trusted, path, tmp_path / version
        )
        assert got.length == len(content)
