"""Logs, metrics and expiry warnings of real tufsync processes (embedded server)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    PASSWORD,
    SIGNUP_KEY,
    Api,
    Cli,
    ServerProcess,
    ceremony,
    offline_targets,
    run_server,
)

PUBLISH_TASKS = {"publish_artifacts", "add_artifacts"}


def json_lines(server: ServerProcess) -> list[dict[str, Any]]:
    lines = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def metric_samples(page: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(page)
        for s in family.samples
    ]


def sample(page: str, name: str, *, missing: float | None = None, **labels: str) -> float:
    """The sum of the samples of ``name`` carrying ``labels`` (``missing`` if none)."""
    found = [v for n, ls, v in metric_samples(page) if n == name and labels.items() <= ls.items()]
    if not found and missing is not None:
        return missing
    assert found, f"no sample {name} {labels} in:\n{page}"
    return sum(found)


def outside_address() -> str:
    """A non-loopback address of this host (the tests need one to act as a remote client)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))  # no packet is sent; picks the outgoing interface
        address = str(probe.getsockname()[0])
    assert not address.startswith("127."), "this host has no non-loopback IPv4 address"
    return address


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "TUFSYNC_LOG_FORMAT": "json",
        "TUFSYNC_LOG_LEVEL": "info",
        "TUFSYNC_REFRESH_INTERVAL_SECONDS": "0.5",
    }
    with run_server(tmp_path_factory.mktemp("observed"), env) as server:
        yield server


@pytest.fixture(scope="module")
def published(json_server: ServerProcess) -> dict[str, Any]:
    """One admin bootstraps an app (root expiring in 10 days) and publishes a version."""
    api = Api(json_server, f"obs{int(time.time() * 1000) % 10**8}")
    app = "observed-app"
    version_id = api.upload_ok(app, "1.0.0", {"app.bin": b"observed " * 100})
    cer = ceremony(json_server.key_dir, api.username, app, expirations={"root": 10})
    api.bootstrap_ok(cer.payload)
    task = api.publish_ok(version_id, "1.0.0")
    assert task["result"]["task"] in PUBLISH_TASKS
    return {"api": api, "app": app, "ceremony": cer, "task": task}


def test_publish_writes_json_request_and_task_lines_without_secrets(
    json_server: ServerProcess, published: dict[str, Any]
) -> None:
    api: Api = published["api"]
    lines = json_lines(json_server)
    requests = [entry for entry in lines if entry.get("event") == "request"]
    publish = [r for r in requests if r["route"] == "/tuf/v1/artifacts/publish"]
    assert len(publish) == 1, requests
    line = publish[0]
    assert line["method"] == "POST" and line["status"] in (200, 202)
    assert line["admin"] == api.username and line["level"] == "info"
    assert isinstance(line["duration_ms"], float)
    # Route templates only: query strings and tenant names never become the route.
    task_polls = [r for r in requests if r["route"] == "/tuf/v1/task"]
    assert task_polls and all(r["admin"] == api.username for r in task_polls)
    assert not any("?" in r["route"] or published["app"] in r["route"] for r in requests)
    signup = [r for r in requests if r["route"] == "/signup"]
    assert signup and signup[0]["admin"] is None

    tasks = [entry for entry in lines if entry.get("event") == "task"]
    names = {(t["task"], t["outcome"]) for t in tasks if t["app"] == published["app"]}
    assert ("bootstrap", "success") in names
    assert any(name in PUBLISH_TASKS and outcome == "success" for name, outcome in names)
    publish_task = next(t for t in tasks if t["task_id"] == published["task"]["task_id"])
    assert publish_task["admin"] == api.username and publish_task["duration_ms"] > 0

    token = api.http.headers["Authorization"].removeprefix("Bearer ")
    secrets_file = json.loads((json_server.data_dir / "secrets.json").read_text())
    key_files = list((json_server.key_dir / api.username / published["app"]).iterdir())
    assert key_files
    secrets = [token, PASSWORD, SIGNUP_KEY, secrets_file["jwt_secret"]]
    for path in key_files:
        secrets += [ln for ln in path.read_text().splitlines() if ln and "-----" not in ln]
    for signer in published["ceremony"].root_signers:
        secrets.append(signer.private_bytes.decode().splitlines()[1])  # type: ignore[attr-defined]
    text = "\n".join(json.dumps(entry) for entry in lines)
    for secret in secrets:
        assert secret not in text
    assert "PRIVATE KEY" not in text


def test_expiring_root_is_logged_once_a_day(
    json_server: ServerProcess, published: dict[str, Any]
) -> None:
    api: Api = published["api"]

    def warned() -> list[dict[str, Any]]:
        return [
            entry
            for entry in json_lines(json_server)
            if entry.get("event") == "expiry_warning" and entry["admin"] == api.username
        ]

    deadline = time.monotonic() + 30
    while not warned():
        assert time.monotonic() < deadline, "no expiry warning was logged"
        time.sleep(0.2)
    time.sleep(1.5)  # three more scheduler passes: still one line
    lines = warned()
    assert [(w["app"], w["role"], w["level"]) for w in lines] == [
        (published["app"], "root", "warning")
    ]
    assert 9 < lines[0]["days_left"] <= 10


def test_metrics_page_after_a_publish(
    json_server: ServerProcess, published: dict[str, Any]
) -> None:
    api: Api = published["api"]
    app = published["app"]
    response = httpx.get(f"{json_server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    page = response.text
    assert (
        sample(
            page, "tufsync_http_requests_total", route="/tuf/v1/artifacts/publish", method="POST"
        )
        >= 1
    )
    assert sample(page, "tufsync_http_request_duration_seconds_count", route="/tuf/v1/task") >= 1
    task_name = published["task"]["result"]["task"]
    assert sample(page, "tufsync_tasks_total", task=task_name, outcome="success") >= 1
    assert sample(page, "tufsync_task_duration_seconds_count", task="bootstrap") >= 1
    assert sample(page, "tufsync_publish_batch_size_count") >= 1
    assert sample(page, "tufsync_task_queue_depth") >= 0
    root_left = sample(
        page, "tufsync_role_expires_in_seconds", admin=api.username, app=app, role="root"
    )
    assert 9 * 86400 < root_left <= 10 * 86400
    assert (
        sample(
            page,
            "tufsync_role_expires_in_seconds",
            admin=api.username,
            app=app,
            role="timestamp",
            signing="online",
        )
        > 0
    )
    assert sample(page, "tufsync_offline_role_expiry_warnings", admin=api.username, app=app) == 1
    assert api.username not in "".join(
        line for line in page.splitlines() if "token" in line.lower()
    )
    # Never on the public route.
    assert httpx.get(f"{json_server.url}/public/metrics").status_code == 404


def test_expiry_route_for_one_app_all_apps_and_another_admin(
    json_server: ServerProcess, published: dict[str, Any]
) -> None:
    api: Api = published["api"]
    app = published["app"]
    one = api.get("/tuf/v1/expiry", params={"appName": app})
    assert one.status_code == 200, one.text
    data = one.json()["data"]
    assert data["horizon_days"] == 30
    assert [(w["app"], w["role"], w["expired"]) for w in data["warnings"]] == [(app, "root", False)]
    assert 9 < data["warnings"][0]["days_left"] <= 10

    # A second app whose targets are offline: both offline roles are listed.
    second = "observed-offline"
    api.bootstrap_ok(offline_targets(api, second).payload)
    everything = api.get("/tuf/v1/expiry").json()["data"]["warnings"]
    assert {(w["app"], w["role"]) for w in everything} == {(app, "root")}
    assert api.get("/tuf/v1/expiry", params={"appName": second}).json()["data"]["warnings"] == []

    other = Api(json_server, api.username + "x")
    foreign = other.get("/tuf/v1/expiry", params={"appName": app})
    missing = other.get("/tuf/v1/expiry", params={"appName": "never-bootstrapped"})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"].replace(app, "X") == missing.json()["error"].replace(
        "never-bootstrapped", "X"
    )
    assert other.get("/tuf/v1/expiry").json()["data"]["warnings"] == []
    foreign_status = other.get("/tuf/v1/status", params={"appName": app})
    missing_status = other.get("/tuf/v1/status", params={"appName": "never-bootstrapped"})
    assert foreign_status.status_code == missing_status.status_code == 404
    assert foreign_status.json()["error"].replace(app, "X") == missing_status.json()[
        "error"
    ].replace("never-bootstrapped", "X")
    second_status = api.get("/tuf/v1/status", params={"appName": second}).json()["data"]
    assert second_status["roles"]["targets"]["signing"] == "offline"
    assert second_status["roles"]["releases"]["signing"] == "online"
    assert api.get("/tuf/v1/expiry", params={"appName": "bad/name"}).status_code == 400
    assert httpx.get(f"{json_server.url}/tuf/v1/expiry").status_code == 401


def test_metrics_refused_to_remote_clients_unless_allowed(tmp_path: Path) -> None:
    address = outside_address()
    env = {"TUFSYNC_HOST": "0.0.0.0", "TUFSYNC_METRICS_TOKEN": "scrape-token-123"}
    with run_server(tmp_path / "closed", env) as server:
        remote = server.url.replace("127.0.0.1", address)
        assert httpx.get(f"{server.url}/metrics").status_code == 200
        refused = httpx.get(f"{remote}/metrics")
        assert refused.status_code == 403
        assert "TUFSYNC_METRICS_ALLOW" in refused.json()["error"]
        wrong = httpx.get(f"{remote}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        good = httpx.get(f"{remote}/metrics", headers={"Authorization": "Bearer scrape-token-123"})
        assert good.status_code == 200 and "tufsync_http_requests_total" in good.text
    env = {"TUFSYNC_HOST": "0.0.0.0", "TUFSYNC_METRICS_ALLOW": f"{address}/32,10.0.0.0/8"}
    with run_server(tmp_path / "allowed", env) as server:
        remote = server.url.replace("127.0.0.1", address)
        assert httpx.get(f"{remote}/metrics").status_code == 200


def test_status_command_table_and_json(
    json_server: ServerProcess, published: dict[str, Any], tmp_path: Path
) -> None:
    api: Api = published["api"]
    app = published["app"]
    cli = Cli(json_server, tmp_path)
    cli.env["COLUMNS"] = "200"
    cli.run("login", "-u", api.username, "-p", PASSWORD, "--url", json_server.url)

    data = cli.json("status", "--app", app)
    assert data["app"] == app
    assert data["roles"]["root"] == {
        "version": 1,
        "expires": data["expiry"]["warnings"][0]["expires"],
        "signing": "offline",
    }
    assert data["roles"]["default"]["signing"] == "online"
    assert data["roles"]["default"]["version"] == 2
    assert data["roles"]["timestamp"]["version"] >= 2
    assert data["settings"]["root_expiration"] == 10
    assert data["pending_drafts"] == []
    recent = [(t["task_id"], t["task"], t["state"]) for t in data["recent_tasks"]]
    task = published["task"]
    assert recent[0] == (task["task_id"], task["result"]["task"], "SUCCESS")
    assert recent[-1][1] == "bootstrap"
    assert [(w["role"], w["app"]) for w in data["expiry"]["warnings"]] == [("root", app)]

    table = cli.run("status", "--app", app).stdout
    for text in ("Roles of " + app, "Settings", "Recent tasks", task["task_id"], "offline"):
        assert text in table, table
    assert "Offline roles expiring within 30 days: 1" in table

    everything = cli.run("status").stdout
    assert "Offline roles expiring within 30 days" in everything and app in everything
    missing = cli.run("status", "--app", "no-such-app", check=False)
    assert missing.returncode == 1 and "404" in missing.stderr


def test_failed_task_is_logged_and_counted_as_failure(
    json_server: ServerProcess, published: dict[str, Any]
) -> None:
    """A refresh whose online key has gone: one task line with outcome and error."""
    api: Api = published["api"]
    app = "observed-keyless"
    cer = ceremony(json_server.key_dir, api.username, app)
    api.bootstrap_ok(cer.payload)
    for key_file in (json_server.key_dir / api.username / app).iterdir():
        key_file.unlink()
    response = api.post("/tuf/v1/metadata/online", params={"appName": app}, json={})
    assert response.status_code in (200, 202), response.text
    task = api.wait_task(response.json()["data"]["task_id"])
    assert task["state"] == "FAILURE"
    line = next(
        entry
        for entry in json_lines(json_server)
        if entry.get("event") == "task" and entry.get("task_id") == task["task_id"]
    )
    assert line["outcome"] == "failure" and line["level"] == "warning"
    assert line["error"] == task["result"]["error"]
    assert line["task"] == "force_online_metadata_update" and line["app"] == app
    page = httpx.get(f"{json_server.url}/metrics").text
    assert (
        sample(
            page,
            "tufsync_tasks_total",
            task="force_online_metadata_update",
            outcome="failure",
        )
        >= 1
    )


def test_batched_publishes_are_each_counted_once(
    json_server: ServerProcess, published: dict[str, Any]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api: Api = published["api"]
    app = published["app"]
    name = published["task"]["result"]["task"]
    versions = {f"2.{i}": api.upload_ok(app, f"2.{i}", {f"b{i}.bin": b"b" * i}) for i in range(8)}
    before = httpx.get(f"{json_server.url}/metrics").text

    def publish(item: tuple[str, str]) -> str:
        response = api.post(
            "/tuf/v1/artifacts/publish", json={"app_id": item[1], "version": item[0]}
        )
        assert response.status_code in (200, 202), response.text
        return str(response.json()["data"]["task_id"])

    with ThreadPoolExecutor(8) as pool:
        task_ids = list(pool.map(publish, versions.items()))
    assert all(api.wait_task(t)["state"] == "SUCCESS" for t in task_ids)
    after = httpx.get(f"{json_server.url}/metrics").text

    def delta(metric: str, **labels: str) -> float:
        return sample(after, metric, **labels) - sample(before, metric, missing=0, **labels)

    assert delta("tufsync_tasks_total", task=name, outcome="success") == 8
    assert delta("tufsync_publish_batch_size_sum") == 8  # every task in exactly one batch
    assert 1 <= delta("tufsync_publish_batch_size_count") <= 8
    lines = [e for e in json_lines(json_server) if e.get("task_id") in set(task_ids)]
    assert sorted(e["task_id"] for e in lines) == sorted(task_ids)
    assert {e["outcome"] for e in lines} == {"success"}
