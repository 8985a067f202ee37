"""A draft that expires while it waits for signatures is never published.

A root draft whose last signature arrives after its ``expires`` would make every
client fail ("Final root.json is expired", TUF specification §5.3.10); so would
a delegated draft (§5.6.5). The server keeps a minute's margin: signing such a
draft answers that it expired and must be made again, the signing queue says
so, and nothing is published. Time is the engine's clock, moved by the test.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import Signer
from tuf.api.metadata import Metadata, Root

from tests.support import PASSWORD, SIGNUP_KEY, Ceremony, FakeClock, ceremony
from tufsync.api.app import create_app
from tufsync.settings import Settings

APP = "expiring"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, signup_key=SIGNUP_KEY)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.post(
            "/signup", json={"username": "alice", "password": PASSWORD, "api_key": SIGNUP_KEY}
        )
        login = client.post("/login", json={"username": "alice", "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        yield client


def services(client: TestClient) -> Any:
    return client.app.state.services  # type: ignore[attr-defined]


def wait(client: TestClient, response: Any) -> dict[str, Any]:
    task_id = response.json()["data"]["task_id"]
    for _ in range(400):
        data: dict[str, Any] = client.get("/tuf/v1/task", params={"task_id": task_id}).json()[
            "data"
        ]
        if data["state"] in ("SUCCESS", "FAILURE"):
            return data
    raise AssertionError(f"task {task_id} did not finish")


def bootstrapped(client: TestClient, clock: FakeClock) -> Ceremony:
    services(client).tuf.clock = clock
    key_dir = services(client).settings.resolved_online_key_dir
    cer = ceremony(key_dir, "alice", APP, root_keys=2, threshold=2)
    assert wait(client, client.post("/tuf/v1/bootstrap", json=cer.payload))["state"] == "SUCCESS"
    return cer


def root_draft(client: TestClient, clock: FakeClock, lifetime: timedelta) -> dict[str, Any]:
    """Root version 2 (the same keys), expiring ``lifetime`` from the clock's now."""
    trusted = client.get("/tuf/v1/metadata/root", params={"appName": APP}).json()["data"]
    md = Metadata[Root].from_dict(copy.deepcopy(trusted["trusted_root"]))
    md.signed.version += 1
    md.signed.expires = clock.now + lifetime
    md.signatures.clear()
    return md.to_dict()


def signature(signer: Signer, draft: dict[str, Any]) -> dict[str, Any]:
    return dict(signer.sign(encode_canonical(draft["signed"]).encode()).to_dict())


def post_root(client: TestClient, draft: dict[str, Any]) -> None:
    response = client.post(
        "/tuf/v1/metadata", params={"appName": APP}, json={"metadata": {"root": draft}}
    )
    assert response.status_code == 200, response.text


def post_signature(client: TestClient, sig: dict[str, Any]) -> Any:
    return client.post(
        "/tuf/v1/metadata/sign", params={"appName": APP}, json={"role": "root", "signature": sig}
    )


def queue_message(client: TestClient) -> str:
    message: str = client.get("/tuf/v1/metadata/sign", params={"appName": APP}).json()["message"]
    return message


def published_roots(client: TestClient) -> list[str]:
    folder = services(client).settings.data_dir / "public" / "tuf_metadata" / "alice" / APP
    return sorted(p.name for p in folder.glob("*.root.json"))


def trusted_root_version(client: TestClient) -> int:
    data = client.get("/tuf/v1/metadata/root", params={"appName": APP}).json()["data"]
    return int(data["trusted_root"]["signed"]["version"])


def test_root_draft_that_expired_while_waiting_is_not_published(
    client: TestClient, clock: FakeClock
) -> None:
    cer = bootstrapped(client, clock)
    first, second = cer.root_signers
    draft = root_draft(client, clock, timedelta(days=1))
    draft["signatures"] = [signature(first, draft)]
    post_root(client, draft)
    assert queue_message(client) == "Metadata role(s) pending signing"

    clock.advance(days=2)
    message = queue_message(client)
    assert message.startswith("Metadata role(s) pending signing. The root draft (version 2) ")
    assert "expired at" in message and "Make it again" in message, message

    response = post_signature(client, signature(second, draft))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["message"] == "Signature Failed"
    assert body["error"].startswith("The root draft (version 2) expired at "), body
    assert "POST /tuf/v1/metadata" in body["error"]
    pending = client.get("/tuf/v1/metadata/sign", params={"appName": APP}).json()["data"]
    assert pending["metadata"]["root"]["signatures"] == draft["signatures"]  # nothing added
    assert trusted_root_version(client) == 1 and published_roots(client) == ["1.root.json"]

    # Made again, the rotation publishes.
    fresh = root_draft(client, clock, timedelta(days=30))
    fresh["signatures"] = [signature(first, fresh)]
    post_root(client, fresh)
    assert queue_message(client) == "Metadata role(s) pending signing"
    done = post_signature(client, signature(second, fresh))
    assert done.status_code == 200, done.text
    assert wait(client, done)["state"] == "SUCCESS"
    assert trusted_root_version(client) == 2


def test_root_draft_expiring_within_a_minute_is_not_published(
    client: TestClient, clock: FakeClock
) -> None:
    cer = bootstrapped(client, clock)
    first, second = cer.root_signers
    draft = root_draft(client, clock, timedelta(seconds=30))
    draft["signatures"] = [signature(first, draft)]
    post_root(client, draft)  # not expired yet: accepted as a draft

    response = post_signature(client, signature(second, draft))
    assert response.status_code == 400, response.text
    assert "within a minute" in response.json()["error"]
    assert "within a minute" in queue_message(client)
    assert published_roots(client) == ["1.root.json"]


def test_fully_signed_root_expiring_within_a_minute_is_not_published(
    client: TestClient, clock: FakeClock
) -> None:
    """A root posted with every signature is published by its task, which refuses it
    when it would expire within the margin."""
    cer = bootstrapped(client, clock)
    draft = root_draft(client, clock, timedelta(seconds=30))
    draft["signatures"] = [signature(s, draft) for s in cer.root_signers]
    response = client.post(
        "/tuf/v1/metadata", params={"appName": APP}, json={"metadata": {"root": draft}}
    )
    assert response.status_code == 200, response.text
    task = wait(client, response)
    assert task["state"] == "FAILURE"
    assert "within a minute" in str(task["result"]), task
    assert published_roots(client) == ["1.root.json"]
