"""Online keys in AWS KMS (moto's KMS server on 127.0.0.1) through securesystemslib's AWSSigner.

A repository whose timestamp, snapshot and targets keys (and so its default
delegated role) live in KMS publishes, and python-tuf's ngclient verifies the
download. Keys that cannot be used are refused at bootstrap with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication
from securesystemslib.signer import AWSSigner, CryptoSigner, SSlibKey

from tests.integration.test_signer_uris import with_uri_key
from tests.kms import kms_server as kms_server_at
from tests.support import Api, Cli, ServerProcess, ceremony, run_server, unique_name
from tufsync.keyholder.verify import verify_download

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def kms_url() -> Iterator[str]:
    with kms_server_at() as url:
        yield url


@pytest.fixture(scope="module")
def admin() -> str:
    return unique_name("kms")


@pytest.fixture(scope="module")
def kms_server(
    kms_url: str, admin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = {
        **AWS_ENV,
        "AWS_ENDPOINT_URL_KMS": kms_url,
        "TUFSYNC_SIGNER_URI_PREFIXES": json.dumps({admin: ["awskms:"]}),
    }
    with run_server(tmp_path_factory.mktemp("kms-server"), env) as server:
        yield server


@pytest.fixture(scope="module")
def owner(kms_server: ServerProcess, admin: str) -> Api:
    return Api(kms_server, admin)


def new_kms_key(url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, SSlibKey]:
    """A P-256 signing key made in KMS, and its URI and public key as AWSSigner reads them."""
    for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL_KMS": url}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("kms", endpoint_url=url, region_name="us-east-1")
    key_id = client.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"][
        "KeyId"
    ]
    uri, public = AWSSigner.import_(key_id, "ecdsa-sha2-nistp256")
    return uri, public


def test_online_keys_in_kms_publish_and_verify(
    kms_server: ServerProcess,
    kms_url: str,
    admin: str,
    owner: Api,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = owner
    uri, public = new_kms_key(kms_url, monkeypatch)
    app = "kmsapp"
    # The key holders' ceremony reads the online key's public half from KMS itself.
    cli = Cli(kms_server, tmp_path)
    cli.env.update({**AWS_ENV, "AWS_ENDPOINT_URL_KMS": kms_url})
    root_key = cli.json("keys", "new", "--out", "root-keys")["private_key_file"]
    made = cli.json(
        "ceremony", "--app", app, "--admin", admin, "--root-key", root_key,
        "--online-key-uri", uri, "--online-key-dir", str(kms_server.key_dir),
    )  # fmt: skip
    assert made["online_keyid"] == public.keyid and made["online_key_file"] is None
    assert not (kms_server.key_dir / admin / app).exists()
    payload = json.loads((tmp_path / "bootstrap.json").read_text())
    api.bootstrap_ok(payload)
    version_id = api.upload_ok(app, "1.0", {"k.deb": b"signed in KMS"})
    api.publish_ok(version_id, "1.0")

    meta = kms_server.public_dir / "tuf_metadata" / admin / app
    for role in ("timestamp.json", "1.snapshot.json", "2.default.json"):
        signatures = json.loads((meta / role).read_text())["signatures"]
        assert [s["keyid"] for s in signatures] == [public.keyid], role
    trusted = tmp_path / "root.json"
    trusted.write_text(json.dumps(payload["metadata"]["root"]))
    target = f"{app}-{admin}/{app}-1.0.deb"
    result = verify_download(kms_server.public_url, admin, app, trusted, target, tmp_path / "dl")
    assert result.path == target


def test_unusable_kms_keys_say_why(
    kms_server: ServerProcess,
    kms_url: str,
    admin: str,
    owner: Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri, public = new_kms_key(kms_url, monkeypatch)
    other_uri, _ = new_kms_key(kms_url, monkeypatch)
    ed25519 = CryptoSigner.generate_ed25519().public_key

    def refused(app: str, key: SSlibKey, key_uri: str) -> str:
        cer = ceremony(kms_server.key_dir, admin, app)
        payload = with_uri_key(cer.payload, cer.root_signers, key.to_dict(), key.keyid, key_uri)
        response = owner.post("/tuf/v1/bootstrap", json=payload)
        assert response.status_code == 400, response.text
        error: str = response.json()["error"]
        assert "not available to the server" in error
        return error

    assert "wrong key type" in refused("wrongtype", ed25519, uri)  # type: ignore[arg-type]
    missing = refused("nokey", public, "awskms:00000000-0000-0000-0000-000000000000")
    assert "the key service refused to sign (NotFoundException" in missing
    assert "holds another key" in refused("otherkey", public, other_uri)
    assert "not allowed" in refused("nouri", public, "hv:some-vault-key")


def test_permission_denied_by_kms_is_named(
    kms_url: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose AWS identity may read the key but not sign with it (moto's IAM check)."""
    uri, public = new_kms_key(kms_url, monkeypatch)
    iam = boto3.client("iam", endpoint_url=kms_url, region_name="us-east-1")
    user = unique_name("signer")
    iam.create_user(UserName=user)
    read_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["kms:GetPublicKey"], "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user, PolicyName="no-sign", PolicyDocument=json.dumps(read_only))
    access = iam.create_access_key(UserName=user)["AccessKey"]
    admin = unique_name("kms")
    env = {
        **AWS_ENV,
        "AWS_ACCESS_KEY_ID": access["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": access["SecretAccessKey"],
        "AWS_ENDPOINT_URL_KMS": kms_url,
        "TUFSYNC_SIGNER_URI_PREFIXES": json.dumps({admin: ["awskms:"]}),
    }
    with run_server(tmp_path_factory.mktemp("kms-denied"), env) as server:
        api = Api(server, admin)

        def payload(app: str) -> dict[str, object]:
            cer = ceremony(server.key_dir, admin, app)
            return with_uri_key(cer.payload, cer.root_signers, public.to_dict(), public.keyid, uri)

        api.bootstrap_ok(payload("before"))  # IAM not enforced yet
        version_id = api.upload_ok("before", "1.0", {"d.deb": b"never signed"})
        with enable_iam_authentication():
            refused = api.post("/tuf/v1/bootstrap", json=payload("after"))
            response = api.post(
                "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "1.0"}
            )
            task = api.wait_task(response.json()["data"]["task_id"])
    assert refused.status_code == 400
    denied = "permission denied by the key service ("
    assert denied in refused.json()["error"]
    assert "is not authorized to perform: kms:Sign" in refused.json()["error"]
    assert task["state"] == "FAILURE"
    error = task["result"]["error"]
    assert f"with key {public.keyid}: permission denied by the key service" in error, error
