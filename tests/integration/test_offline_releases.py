"""Releases into roles the server cannot sign, over HTTP against a real server.

A delegated role whose keys the server does not hold is bootstrapped from the
v1 its holders signed; a publish into it becomes a draft (never published
before its holders sign), later publishes join the draft, its holders' last
signature publishes it, and python-tuf's ngclient then downloads the artifact.
Removals and cancelled drafts keep the registry truthful.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.exceptions import RepositoryError

from tests.support import Api, OfflineRole, offline_role, sign_pending
from tufsync.keyholder.verify import TargetNotFound, verify_download

APP = "offrel"


def _holders(count: int) -> list[Signer]:
    return [CryptoSigner.generate_ed25519() for _ in range(count)]


def _bootstrapped(api: Api, app: str, threshold: int = 2, **kw: Any) -> OfflineRole:
    setup = offline_role(api, app, _holders(2), threshold, **kw)
    api.bootstrap_ok(setup.payload)
    return setup


def _publish(api: Api, app: str, version: str, name: str, data: bytes) -> dict[str, Any]:
    vid = api.upload_ok(app, version, {name: data})
    return api.publish_ok(vid, version)


def _row(api: Api, app: str, version: str) -> dict[str, Any]:
    found = api.get("/search", params={"app_name": app, "limit": 1000}).json()["items"]
    version_row = next(v for v in found if v["Version"] == version)
    return dict(version_row["Artifacts"][0])


def _pending(api: Api, app: str) -> dict[str, Any]:
    return dict(api.get("/tuf/v1/metadata/sign", params={"appName": app}).json())


def _trusted_root(tmp_path: Path, setup: OfflineRole) -> Path:
    root = tmp_path / "root.json"
    root.write_bytes(setup.root_bytes)
    return root


def _download(api: Api, app: str, root: Path, path: str, dest: Path) -> None:
    verify_download(api.server.public_url, api.username, app, root, path, dest)


def test_a_release_into_an_offline_role_waits_for_its_holders(api: Api, tmp_path: Path) -> None:
    app = f"{APP}a"
    setup = _bootstrapped(api, app)
    path = f"{app}-{api.username}/{app}-1.0.deb"

    task = _publish(api, app, "1.0", "a.deb", b"offline one")
    result = task["result"]
    assert task["state"] == "SUCCESS", task
    assert result["details"]["awaiting_signatures"] == {"default": 2}
    assert result["details"]["awaiting_artifacts"] == [path]
    row = _row(api, app, "1.0")
    assert row["TufSigned"] is False and row["TufAwaitingSignatures"] == "default"

    # Nothing a client can see lists the path before the holders sign.
    root = _trusted_root(tmp_path, setup)
    with pytest.raises((RepositoryError, TargetNotFound)):
        _download(api, app, root, path, tmp_path / "early")
    pending = _pending(api, app)
    assert set(pending["data"]["metadata"]) == {"default", "trusted_default"}
    assert path in pending["data"]["metadata"]["default"]["signed"]["targets"]

    first = sign_pending(api, app, "default", setup.holders[0])
    assert first.status_code == 400, first.text
    assert "1/2 signatures collected" in first.json()["error"]
    done = sign_pending(api, app, "default", setup.holders[1])
    assert done.status_code == 200, done.text
    finished = api.wait_task(done.json()["data"]["task_id"])
    assert finished["state"] == "SUCCESS", finished
    assert finished["result"]["details"]["signed_artifacts"] == [path]

    _download(api, app, root, path, tmp_path / "after")
    row = _row(api, app, "1.0")
    assert row["TufSigned"] is True and row["TufAwaitingSignatures"] is None
    assert _pending(api, app)["data"] is None


def test_a_second_publish_joins_the_pending_draft(api: Api, tmp_path: Path) -> None:
    app = f"{APP}b"
    setup = _bootstrapped(api, app)
    _publish(api, app, "1.0", "a.deb", b"first")
    assert sign_pending(api, app, "default", setup.holders[0]).status_code == 400

    second = _publish(api, app, "2.0", "a.deb", b"second")
    assert second["result"]["details"]["awaiting_signatures"] == {"default": 2}
    draft = _pending(api, app)
    listed = draft["data"]["metadata"]["default"]["signed"]["targets"]
    assert len(listed) == 2 and draft["data"]["metadata"]["default"]["signatures"] == []
    assert "were dropped" in draft["message"]

    for holder in setup.holders:
        answer = sign_pending(api, app, "default", holder)
    assert answer.status_code == 200, answer.text
    api.wait_task(answer.json()["data"]["task_id"])
    root = _trusted_root(tmp_path, setup)
    for version in ("1.0", "2.0"):
        path = f"{app}-{api.username}/{app}-{version}.deb"
        _download(api, app, root, path, tmp_path / version)
        assert _row(api, app, version)["TufSigned"] is True


def test_removal_from_an_offline_role_stays_published_until_signed(
    api: Api, tmp_path: Path
) -> None:
    app = f"{APP}c"
    setup = _bootstrapped(api, app, threshold=1)
    _publish(api, app, "1.0", "a.deb", b"to remove")
    answer = sign_pending(api, app, "default", setup.holders[0])
    api.wait_task(answer.json()["data"]["task_id"])
    path = f"{app}-{api.username}/{app}-1.0.deb"
    vid = _row_version_id(api, app, "1.0")

    body = {"id": vid, "app_name": app, "version": "1.0", "artifacts_to_delete": ["0"]}
    removal = api.post("/tuf/v1/artifacts/delete", json=body)
    assert removal.status_code == 202, removal.text
    task = api.wait_task(removal.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["result"]["details"]["awaiting_artifacts"] == [path]
    root = _trusted_root(tmp_path, setup)
    _download(api, app, root, path, tmp_path / "still")  # published until signed
    assert _row(api, app, "1.0")["TufSigned"] is True

    answer = sign_pending(api, app, "default", setup.holders[0])
    finished = api.wait_task(answer.json()["data"]["task_id"])
    assert finished["state"] == "SUCCESS", finished
    assert finished["result"]["details"]["unlisted_artifacts"] == [path]
    with pytest.raises((RepositoryError, TargetNotFound)):
        _download(api, app, root, path, tmp_path / "gone")
    assert _row(api, app, "1.0")["TufSigned"] is False


def test_a_cancelled_release_draft_unsigns_its_artifacts(api: Api) -> None:
    app = f"{APP}d"
    _bootstrapped(api, app)
    _publish(api, app, "1.0", "a.deb", b"cancel me")
    cancelled = api.post(
        "/tuf/v1/metadata/sign/delete", params={"appName": app}, json={"role": "default"}
    )
    assert cancelled.status_code == 202, cancelled.text
    api.wait_task(cancelled.json()["data"]["task_id"])
    row = _row(api, app, "1.0")
    assert row["TufSigned"] is False and row["TufAwaitingSignatures"] is None
    # Published again, it is staged in a new draft.
    again = _publish(api, app, "1.0", "a.deb", b"cancel me")
    assert again["result"]["details"]["awaiting_signatures"] == {"default": 2}


def test_offline_targets_and_offline_role_bootstrap_and_release(api: Api, tmp_path: Path) -> None:
    app = f"{APP}e"
    setup = _bootstrapped(api, app, threshold=1, targets_offline=True)
    path = f"{app}-{api.username}/{app}-1.0.deb"
    task = _publish(api, app, "1.0", "a.deb", b"both offline")
    assert task["result"]["details"]["awaiting_signatures"] == {"default": 2}
    answer = sign_pending(api, app, "default", setup.holders[0])
    assert answer.status_code == 200, answer.text
    api.wait_task(answer.json()["data"]["task_id"])
    _download(api, app, _trusted_root(tmp_path, setup), path, tmp_path / "d")


def test_bootstrap_needs_the_holders_v1_of_an_offline_role(api: Api) -> None:
    app = f"{APP}f"
    setup = offline_role(api, app, _holders(2), 2)
    del setup.payload["metadata"]["default"]
    refused = api.post("/tuf/v1/bootstrap", params={"appName": app}, json=setup.payload)
    assert refused.status_code == 400, refused.text
    assert "metadata.default is required" in refused.json()["error"]
    # Signed by one holder of two: below the role's threshold.
    setup = offline_role(api, app, _holders(2), 2)
    setup.payload["metadata"]["default"]["signatures"] = setup.payload["metadata"]["default"][
        "signatures"
    ][:1]
    refused = api.post("/tuf/v1/bootstrap", params={"appName": app}, json=setup.payload)
    assert refused.status_code == 400, refused.text
    assert "threshold" in refused.json()["error"]


def _row_version_id(api: Api, app: str, version: str) -> str:
    found = api.get("/search", params={"app_name": app, "limit": 1000}).json()["items"]
    return str(next(v for v in found if v["Version"] == version)["ID"])


def test_an_update_asked_for_an_offline_role_is_a_renewal_draft(api: Api) -> None:
    app = f"{APP}g"
    setup = _bootstrapped(api, app, threshold=1)
    asked = api.post(
        "/tuf/v1/metadata/online", params={"appName": app}, json={"roles": ["default"]}
    )
    assert asked.status_code == 200, asked.text
    task = api.wait_task(asked.json()["data"]["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["result"]["details"]["awaiting_signatures"] == {"default": 2}
    drafts = _pending(api, app)["data"]["metadata"]
    renewal, trusted = drafts["default"]["signed"], drafts["trusted_default"]["signed"]
    assert renewal["targets"] == trusted["targets"] and renewal["version"] == 2
    answer = sign_pending(api, app, "default", setup.holders[0])
    assert api.wait_task(answer.json()["data"]["task_id"])["state"] == "SUCCESS"
    assert _pending(api, app)["data"] is None


def _pem_signer() -> tuple[CryptoSigner, bytes]:
    """An ed25519 signer and its private key as the online key folder holds it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )
    from securesystemslib.signer import SSlibKey

    private = Ed25519PrivateKey.generate()
    key = SSlibKey.from_crypto(private.public_key())
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return CryptoSigner(private, key), pem


def test_a_role_follows_the_keys_the_operator_installs_and_removes(
    api: Api, tmp_path: Path
) -> None:
    """No flag: installing the role's key in the tenant's folder makes the next change
    publish the pending release draft; removing it makes releases drafts again."""
    from tufsync import tenant_keys

    app = f"{APP}h"
    holder, pem = _pem_signer()
    setup = offline_role(api, app, [holder], 1)
    api.bootstrap_ok(setup.payload)
    first = _publish(api, app, "1.0", "a.deb", b"waits for the holder")
    assert first["result"]["details"]["awaiting_signatures"] == {"default": 2}

    folder = tenant_keys.key_folder(api.server.key_dir, tenant_keys.TenantRef(api.username, app))
    key_file = folder / holder.public_key.keyid
    key_file.write_bytes(pem)
    second = _publish(api, app, "2.0", "a.deb", b"the key is online now")
    assert "awaiting_signatures" not in second["result"]["details"], second
    assert _pending(api, app)["data"] is None
    root = _trusted_root(tmp_path, setup)
    for version in ("1.0", "2.0"):
        _download(api, app, root, f"{app}-{api.username}/{app}-{version}.deb", tmp_path / version)
        assert _row(api, app, version)["TufSigned"] is True

    key_file.unlink()
    third = _publish(api, app, "3.0", "a.deb", b"offline again")
    assert third["result"]["details"]["awaiting_signatures"] == {"default": 3}
