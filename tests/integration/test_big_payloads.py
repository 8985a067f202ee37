"""Bootstrap payloads with tens of thousands of delegated roles never stall the API.

Validation runs off the event loop in linear time, each distinct online key is
loaded and probed once per payload, and a payload delegating to more roles than
the bound (the hash-bin maximum, 16,384) is refused with a 400 before any heavy
work. While such payloads arrive, ``/health`` keeps answering within a second.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support import Api, Ceremony, ceremony, unique_name

BOUND = 16384
HEALTH_TIMEOUT = 120.0


def many_roles(api: Api, app: str, cer: Ceremony, count: int) -> dict[str, Any]:
    """A bootstrap payload whose targets delegate to ``count`` roles, all keyed by the
    ceremony's online key."""
    keyid = cer.online_keyid
    key = cer.payload["metadata"]["root"]["signed"]["keys"][keyid]
    prefix = f"{app}-{api.username}"
    roles = [
        {
            "name": f"r{i:05d}",
            "terminating": False,
            "keyids": [keyid],
            "threshold": 1,
            "paths": [f"{prefix}/r{i:05d}/*"],
        }
        for i in range(count)
    ]
    payload = copy.deepcopy(cer.payload)
    payload["settings"]["roles"]["delegations"] = {"keys": {keyid: key}, "roles": roles}
    return payload


@dataclass
class HealthLog:
    """Latencies (seconds) of the /health calls made while a block ran, and what failed."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    def __str__(self) -> str:
        return f"/health n={len(self.latencies)} max={self.worst * 1000:.0f} ms"


@contextmanager
def health_watch(api: Api) -> Iterator[HealthLog]:
    """Poll /health from another thread for as long as the block runs."""
    log = HealthLog()
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=api.server.url, timeout=HEALTH_TIMEOUT) as health:
            while not done.is_set():
                begin = time.monotonic()
                try:
                    status = health.get("/health").status_code
                except httpx.HTTPError as exc:
                    status = 0
                    log.failures.append(f"/health failed: {exc!r}")
                log.latencies.append(time.monotonic() - begin)
                if status not in (0, 200):
                    log.failures.append(f"/health answered {status}")
                time.sleep(0.05)

    watcher = threading.Thread(target=poll)
    watcher.start()
    try:
        time.sleep(0.2)  # the watcher is polling before the payload goes out
        yield log
    finally:
        done.set()
        watcher.join()


def post_and_watch(
    api: Api, payload: dict[str, Any], then: Callable[[httpx.Response], None] | None = None
) -> tuple[httpx.Response, HealthLog]:
    with health_watch(api) as log:
        response = api.post("/tuf/v1/bootstrap", json=payload, timeout=600)
        if then is not None:
            then(response)
    return response, log


@pytest.mark.parametrize("count", [30000])
def test_a_payload_past_the_role_bound_is_refused_without_stalling(api: Api, count: int) -> None:
    app = unique_name("many")
    cer = ceremony(api.server.key_dir, api.username, app)
    started = time.monotonic()
    response, health = post_and_watch(api, many_roles(api, app, cer, count))
    took = time.monotonic() - started
    print(f"{count} delegated roles: {response.status_code} after {took:.1f} s; {health}")
    assert response.status_code == 400, response.text[:300]
    body = response.json()
    assert f"at most {BOUND} delegated roles" in body["error"], body
    assert not health.failures, health.failures
    assert len(health.latencies) >= 2, health.latencies
    assert health.worst < 1.0, sorted(health.latencies)[-5:]
    status = api.get("/tuf/v1/bootstrap", params={"appName": app}).json()["data"]
    assert status["bootstrap"] is False and status["id"] == "", status


@pytest.mark.slow
def test_health_answers_during_a_bootstrap_at_the_role_bound(api: Api) -> None:
    app = unique_name("many")
    cer = ceremony(api.server.key_dir, api.username, app)
    task: dict[str, Any] = {}

    def wait(response: httpx.Response) -> None:
        assert response.status_code == 202, response.text[:300]
        task.update(api.wait_task(response.json()["data"]["task_id"], timeout=600))

    started = time.monotonic()
    _, health = post_and_watch(api, many_roles(api, app, cer, BOUND), wait)
    took = time.monotonic() - started
    print(f"{BOUND} delegated roles: bootstrap {task.get('state')} after {took:.1f} s; {health}")
    assert task["state"] == "SUCCESS", task
    assert not health.failures, health.failures
    assert len(health.latencies) >= 5, health.latencies
    assert health.worst < 1.0, sorted(health.latencies)[-5:]
    folder = api.server.public_dir / "tuf_metadata" / api.username / app
    assert (folder / f"1.r{BOUND - 1:05d}.json").exists()
