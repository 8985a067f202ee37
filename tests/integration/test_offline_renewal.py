"""Renewal drafts of offline roles, over HTTP against a real in-process server.

A delegated role the server cannot sign is renewed by its key holders: the
expiry pass (run by the scheduler) stages its renewal draft a setting's number
of days before it expires (never a second one), the expiry warnings, the
metrics and ``tufsync status`` say a renewal is pending until it is signed,
the holders' last signature publishes it, and python-tuf's ngclient accepts it
after the old version would have expired. Time is the engine's clock, moved by
the test (the client's reference time follows it).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.exceptions import ExpiredMetadataError

from tests.support import PASSWORD, SIGNUP_KEY, FakeClock, OfflineRole, client_updater
from tests.support import offline_role_for as offline_role
from tufsync import tenant_keys
from tufsync.api.app import create_app
from tufsync.cli import status_cmds
from tufsync.settings import Settings
from tufsync.tasks.expiry_watch import renew_expiring
from tufsync.tasks.scheduler import refresh_pass

ADMIN, APP = "alice", "renewed"
METRICS_TOKEN = "metrics-token-for-tests"
RENEWAL_DAYS = 10


@pytest.fixture
def client(tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    yield from serving(tmp_path, clock)


def serving(tmp_path: Path, clock: FakeClock, **settings: Any) -> Iterator[TestClient]:
    """The service with the test's clock, and alice logged in."""
    config = Settings(
        data_dir=tmp_path,
        signup_key=SIGNUP_KEY,
        offline_renewal_days=RENEWAL_DAYS,
        metrics_token=METRICS_TOKEN,
        **settings,
    )
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        client.post(
            "/signup", json={"username": ADMIN, "password": PASSWORD, "api_key": SIGNUP_KEY}
        )
        login = client.post("/login", json={"username": ADMIN, "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        services(client).tuf.clock = clock
        yield client


def services(client: TestClient) -> Any:
    return client.app.state.services  # type: ignore[attr-defined]


def wait(client: TestClient, response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 202), response.text
    task_id = response.json()["data"]["task_id"]
    for _ in range(400):
        data: dict[str, Any] = client.get("/tuf/v1/task", params={"task_id": task_id}).json()[
            "data"
        ]
        if data["state"] in ("SUCCESS", "FAILURE"):
            return data
    raise AssertionError(f"task {task_id} did not finish")


def bootstrapped(
    client: TestClient,
    clock: FakeClock,
    days: int,
    lifetime: int = 365,
    targets_offline: bool = False,
) -> OfflineRole:
    """``default`` signed offline by two holders (threshold 2), its v1 expiring in
    ``days``; a new version of it lives ``lifetime`` days (targets' lifetime; with
    ``targets_offline`` root's too, and targets v1 expires with root)."""
    key_dir = services(client).settings.resolved_online_key_dir
    holders: list[Signer] = [CryptoSigner.generate_ed25519() for _ in range(2)]
    setup = offline_role(
        key_dir,
        ADMIN,
        APP,
        holders,
        2,
        days=days,
        expirations={"targets": lifetime, **({"root": lifetime} if targets_offline else {})},
        now=clock(),
        targets_offline=targets_offline,
    )
    done = wait(client, client.post("/tuf/v1/bootstrap", json=setup.payload))
    assert done["state"] == "SUCCESS", done
    return setup


def expiry_pass(client: TestClient, clock: FakeClock) -> int:
    """The scheduler's expiry pass (renewals queued), run until its tasks ended."""
    queued: int = client.portal.call(renew_expiring, services(client), clock())  # type: ignore[union-attr]
    client.portal.call(services(client).queue.wait_idle)  # type: ignore[union-attr]
    return queued


def next_day(client: TestClient, clock: FakeClock) -> None:
    """A day later: the once-a-day marker of the renewal has lapsed."""
    clock.advance(days=1)
    ref = tenant_keys.TenantRef(ADMIN, APP)
    client.portal.call(services(client).state.delete, tenant_keys.renewal_queued(ref, "default"))  # type: ignore[union-attr]


def refresh(client: TestClient, clock: FakeClock) -> None:
    client.portal.call(refresh_pass, services(client), clock())  # type: ignore[union-attr]
    client.portal.call(services(client).queue.wait_idle)  # type: ignore[union-attr]


def pending(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/tuf/v1/metadata/sign", params={"appName": APP}).json())


def sign(client: TestClient, signer: Signer) -> Any:
    draft = pending(client)["data"]["metadata"]["default"]
    sig = signer.sign(encode_canonical(draft["signed"]).encode()).to_dict()
    return client.post(
        "/tuf/v1/metadata/sign", params={"appName": APP}, json={"role": "default", "signature": sig}
    )


def status(client: TestClient) -> dict[str, Any]:
    response = client.get("/tuf/v1/status", params={"appName": APP})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def walk_default(client: TestClient, clock: FakeClock, setup: OfflineRole, workdir: Path) -> int:
    """A fresh ngclient living at the clock's time looks a path up, which loads
    ``default`` (TUF specification §5.6); the version of ``default`` it trusts."""
    public = services(client).settings.resolved_data_dir / "public"
    updater = client_updater(public, ADMIN, APP, setup.root_bytes, workdir)
    updater._trusted_set.reference_time = clock()
    updater.refresh()
    assert updater.get_targetinfo(f"{APP}-{ADMIN}/{APP}-1.0.deb") is None
    return int(updater._trusted_set["default"].version)


def renewal_gauge(client: TestClient) -> list[str]:
    page = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    return re.findall(r"^tufsync_offline_role_renewal_pending\{[^}]*\} 1\.0$", page, re.M)


def test_renewal_draft_is_staged_before_expiry_signed_and_accepted(
    client: TestClient, clock: FakeClock, tmp_path: Path
) -> None:
    setup = bootstrapped(client, clock, days=30)
    start = clock()
    trusted = pending(client)
    assert trusted["data"] is None
    assert expiry_pass(client, clock) == 0  # 30 days left: not yet

    clock.advance(days=30 - RENEWAL_DAYS + 1)  # 9 days left
    assert expiry_pass(client, clock) == 1
    listed = pending(client)["data"]["metadata"]
    draft, old = listed["default"]["signed"], listed["trusted_default"]["signed"]
    assert draft["version"] == old["version"] + 1 == 2
    assert draft["targets"] == old["targets"] == {}
    assert draft.get("delegations") == old.get("delegations")
    assert draft["expires"] == (clock() + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listed["default"]["signatures"] == []
    assert expiry_pass(client, clock) == 0  # once a day

    # Warned until it is signed, saying a renewal awaits signatures.
    expiry = client.get("/tuf/v1/expiry", params={"appName": APP}).json()["data"]
    assert [(w["role"], w["renewal_pending"]) for w in expiry["warnings"]] == [("default", True)]
    assert renewal_gauge(client) == [
        f'tufsync_offline_role_renewal_pending{{admin="{ADMIN}",app="{APP}",role="default"}} 1.0'
    ]
    data = status(client)
    assert data["drafts"] == [
        {"role": "default", "kind": "renewal", "version": 2, "expires": draft["expires"]}
    ]
    assert data["pending_drafts"] == ["default"]

    # One holder signs; a day later the pass asks again: the pending renewal stays.
    assert sign(client, setup.holders[0]).status_code == 400
    next_day(client, clock)
    assert expiry_pass(client, clock) == 1
    again = pending(client)["data"]["metadata"]["default"]
    assert again["signed"] == draft and len(again["signatures"]) == 1
    tasks = status(client)["recent_tasks"]
    renewals = [t["state"] for t in tasks if t["task"] == "renew_offline_metadata"]
    assert renewals == ["SUCCESS", "SUCCESS"]

    done = sign(client, setup.holders[1])
    assert done.status_code == 200, done.text
    assert wait(client, done)["state"] == "SUCCESS"
    assert pending(client)["data"] is None and renewal_gauge(client) == []
    assert status(client)["drafts"] == []

    # Past the old version's expiry, a client (living in that time) accepts version 2.
    clock.advance(days=RENEWAL_DAYS + 5)
    assert clock() > start + timedelta(days=30)
    refresh(client, clock)
    assert walk_default(client, clock, setup, tmp_path / "client") == 2
    alerts = status(client)["alerts"]  # nothing expired; the re-delegation note remains
    assert len(alerts) == 1 and "re-delegate" in alerts[0]


def test_a_pending_release_draft_is_left_unless_it_would_expire_first(
    client: TestClient, clock: FakeClock
) -> None:
    """Lifetime 16 days: a pending draft is renewed only within 8 days of its expiry."""
    setup = bootstrapped(client, clock, days=30, lifetime=16)
    clock.advance(days=14)
    upload = client.post(
        "/upload",
        data={"data": json.dumps({"app_name": APP, "version": "1.0"})},
        files=[("file", ("a.deb", b"release"))],
    )
    assert upload.status_code == 200, upload.text
    version_id = upload.json()["uploadResult.Uploaded"]
    published = client.post(
        "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": "1.0"}
    )
    assert wait(client, published)["result"]["details"]["awaiting_signatures"] == {"default": 2}
    release = pending(client)["data"]["metadata"]["default"]
    assert sign(client, setup.holders[0]).status_code == 400

    clock.advance(days=7)  # trusted: 9 days left; the release draft: 9 days left
    assert expiry_pass(client, clock) == 1
    kept = pending(client)
    assert kept["data"]["metadata"]["default"]["signed"] == release["signed"]
    assert len(kept["data"]["metadata"]["default"]["signatures"]) == 1
    assert status(client)["drafts"][0]["kind"] == "release"

    next_day(client, clock)  # the draft: 8 days left, within half its lifetime
    assert expiry_pass(client, clock) == 1
    renewed = pending(client)
    draft = renewed["data"]["metadata"]["default"]
    assert draft["signed"]["targets"] == release["signed"]["targets"]
    assert draft["signed"]["version"] == release["signed"]["version"]
    assert draft["signed"]["expires"] == (clock() + timedelta(days=16)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert draft["signatures"] == []
    message = renewed["message"]
    assert "expiry of the default draft was renewed" in message and "were dropped" in message
    assert status(client)["drafts"][0]["kind"] == "release"  # it still lists the release

    for holder in setup.holders:
        answer = sign(client, holder)
    assert wait(client, answer)["state"] == "SUCCESS"
    assert status(client)["roles"]["default"]["version"] == 2


def test_status_says_when_snapshot_points_at_an_expired_role(
    client: TestClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    setup = bootstrapped(client, clock, days=5)
    data = status(client)
    redelegate = data["alerts"]
    assert len(redelegate) == 1 and "re-delegate" in redelegate[0]
    assert "default" in redelegate[0] and "sign targets offline" in redelegate[0]

    clock.advance(days=6)
    refresh(client, clock)  # timestamp and snapshot are fresh; default is not
    with pytest.raises(ExpiredMetadataError):
        walk_default(client, clock, setup, tmp_path / "before")
    alerts = status(client)["alerts"]
    assert alerts[0].startswith("snapshot points at default version 1, which expired on ")
    assert "no draft of it is pending" in alerts[0]

    assert expiry_pass(client, clock) == 1  # the renewal is staged, even this late
    data = status(client)
    assert "until the pending draft is published" in data["alerts"][0]

    out = Console(record=True, width=200)
    monkeypatch.setattr(status_cmds, "console", out)
    status_cmds.show_status(data)
    text = out.export_text()
    assert "Attention: snapshot points at default version 1, which expired on" in text
    assert "a compromised server could re-delegate them to a key it holds" in text
    assert re.search(r"default\s+│\s+renewal\s+│\s+2\s+│", text), text
    assert re.search(r"default .* expired [\d.]+ days ago\s+│\s+pending: awaits signatures", text)

    for holder in setup.holders:
        answer = sign(client, holder)
    assert wait(client, answer)["state"] == "SUCCESS"
    assert status(client)["alerts"] == redelegate
    assert walk_default(client, clock, setup, tmp_path / "after") == 2


def test_offline_targets_is_renewed_and_root_never(client: TestClient, clock: FakeClock) -> None:
    """With targets offline too, targets and default get renewal drafts (no
    re-delegation alert); root, expiring too, is left to its rotation."""
    bootstrapped(client, clock, days=30, lifetime=40, targets_offline=True)
    clock.advance(days=40 - RENEWAL_DAYS + 1)  # root and targets: 9 days left; default: -1
    assert expiry_pass(client, clock) == 2
    refresh(client, clock)
    data = status(client)
    assert [(d["role"], d["kind"]) for d in data["drafts"]] == [
        ("default", "renewal"),
        ("targets", "renewal"),
    ]
    assert data["alerts"][0].startswith("snapshot points at default version 1, which expired")
    assert not any("re-delegate" in a for a in data["alerts"])


def test_the_scheduler_stages_the_renewal(tmp_path: Path, clock: FakeClock) -> None:
    """The scheduler's own loop (its expiry look every 20 passes) queues the renewal."""
    for client in serving(tmp_path, clock, refresh_interval_seconds=0.05):
        bootstrapped(client, clock, days=30)
        clock.advance(days=30 - RENEWAL_DAYS + 1)
        deadline = time.monotonic() + 10
        while pending(client)["data"] is None:
            assert time.monotonic() < deadline, "no renewal draft was staged"
            time.sleep(0.1)
        assert status(client)["drafts"][0]["kind"] == "renewal"
