"""A second, independent TUF client: tuf-js (npm's) reads what tufsync publishes.

tuf-js is installed from the npm registry, pinned by ``tests/e2e/tufjs/
package-lock.json`` (``./test.sh`` runs ``npm ci`` there). It must refresh and
download what python-tuf's ngclient downloads, follow a root rotation, and
refuse an artifact whose bytes were changed in storage.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root

from tests.support import Api, ceremony, resign
from tufsync.keyholder.verify import verify_download

CLIENT_DIR = Path(__file__).parent / "tufjs"
pytestmark = pytest.mark.slow


def tufjs(api: Api, app: str, workdir: Path, paths: list[str]) -> dict[str, Any]:
    """Run the tuf-js client over HTTP against the server's public files."""
    assert (CLIENT_DIR / "node_modules" / "tuf-js").is_dir(), "run ./test.sh (npm ci) first"
    node = shutil.which("node")
    assert node, "node is required (installed by the test command)"
    public = api.server.public_url
    done = subprocess.run(
        [
            node,
            str(CLIENT_DIR / "client.mjs"),
            f"{public}/tuf_metadata/{api.username}/{app}/",
            f"{public}/",
            str(workdir / "meta"),
            str(workdir / "targets"),
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_tufjs_downloads_what_ngclient_downloads(api: Api, tmp_path: Path) -> None:
    app = "tufjs"
    cer = ceremony(api.server.key_dir, api.username, app)
    api.bootstrap_ok(cer.payload)
    version_id = api.upload_ok(app, "1.0", {"a.bin": b"first release", "b.deb": b"second file"})
    task = api.publish_ok(version_id, "1.0")
    paths = sorted(task["result"]["details"]["artifacts"])
    assert len(paths) == 2

    trusted = tmp_path / "root1.json"
    trusted.write_bytes(cer.root_bytes)
    js = tmp_path / "js"
    (js / "meta").mkdir(parents=True)
    (js / "targets").mkdir()
    shutil.copy(trusted, js / "meta" / "root.json")

    first = tufjs(api, app, js, paths)
    assert first["root_version"] == 1
    for result, path in zip(first["results"], paths, strict=True):
        assert result["ok"], result
        ng = verify_download(
            api.server.public_url, api.username, app, trusted, path, tmp_path / "ng" / path
        )
        assert Path(result["file"]).read_bytes() == ng.local_file.read_bytes()

    # Root rotation: new root keys, signed by the old and the new ones.
    new_signers = [CryptoSigner.generate_ed25519()]
    current = api.get("/tuf/v1/metadata/root", params={"appName": app}).json()["data"]
    root = Metadata[Root].from_dict(copy.deepcopy(current["trusted_root"]))
    root.signed.version += 1
    for keyid in list(root.signed.roles["root"].keyids):
        root.signed.revoke_key(keyid, "root")
    root.signed.add_key(new_signers[0].public_key, "root")
    signed = resign(root.to_dict(), [*cer.root_signers, *new_signers])
    rotated = api.post(
        "/tuf/v1/metadata", params={"appName": app}, json={"metadata": {"root": signed}}
    )
    assert rotated.status_code == 200, rotated.text
    assert api.wait_task(rotated.json()["data"]["task_id"])["state"] == "SUCCESS"
    version_two = api.upload_ok(app, "2.0", {"a.bin": b"after the rotation"})
    later = sorted(api.publish_ok(version_two, "2.0")["result"]["details"]["artifacts"])

    second = tufjs(api, app, js, later)
    assert second["root_version"] == 2, second
    [result] = second["results"]
    assert result["ok"], result
    ng = verify_download(
        api.server.public_url, api.username, app, trusted, later[0], tmp_path / "ng2"
    )
    assert Path(result["file"]).read_bytes() == ng.local_file.read_bytes() == b"after the rotation"

    # Tampered bytes in storage: tuf-js refuses them.
    stored = api.server.public_dir / later[0]
    stored.write_bytes(b"after the rotation, but evil")
    third = tufjs(api, app, js, later)
    [refused] = third["results"]
    assert not refused["ok"], refused
    assert "length" in refused["error"].lower() or "hash" in refused["error"].lower(), refused
