"""Login and signup under abuse (docs/api.md §2, docs/design.md invariant 8).

argon2 runs off the event loop in a bounded pool, so /health answers quickly while
clients hammer /login with wrong passwords; failed attempts are rate-limited per
client address and per username (429 with a sentence and Retry-After); a
password longer than 1,024 bytes is a 400 before any hashing.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.support import PASSWORD, SIGNUP_KEY, run_server, unique_name

HAMMER_CLIENTS = 8
HAMMER_SECONDS = 5.0


def signup(http: httpx.Client, username: str, **overrides: object) -> httpx.Response:
    body = {"username": username, "password": PASSWORD, "api_key": SIGNUP_KEY, **overrides}
    return http.post("/signup", json=body)


def test_health_stays_fast_while_logins_are_hammered(tmp_path: Path) -> None:
    env = {
        "TUFSYNC_LOGIN_LIMIT_PER_CLIENT": "1000000/minute",
        "TUFSYNC_LOGIN_LIMIT_PER_USERNAME": "1000000/minute",
    }
    with run_server(tmp_path / "srv", env) as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        names = [unique_name() for _ in range(HAMMER_CLIENTS)]
        for name in names:
            assert signup(http, name).status_code == 200
        stop = threading.Event()
        statuses: Counter[int] = Counter()

        def hammer(name: str) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                while not stop.is_set():
                    response = client.post(
                        "/login", json={"username": name, "password": "wrong!!!!"}
                    )
                    statuses[response.status_code] += 1

        threads = [threading.Thread(target=hammer, args=(n,)) for n in names]
        for thread in threads:
            thread.start()
        latencies = []
        try:
            time.sleep(0.5)
            deadline = time.monotonic() + HAMMER_SECONDS
            while time.monotonic() < deadline:
                start = time.monotonic()
                assert http.get("/health").status_code == 200
                latencies.append(time.monotonic() - start)
                time.sleep(0.05)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        print(
            f"/health under {HAMMER_CLIENTS} login hammers: n={len(latencies)} "
            f"median={statistics.median(latencies) * 1000:.0f} ms "
            f"max={max(latencies) * 1000:.0f} ms; login answers {dict(statuses)}"
        )
        assert statuses[401] >= 4, statuses  # the load was real: hashes ran all along
        assert set(statuses) <= {401, 429}, statuses
        assert max(latencies) < 1.0, latencies
        assert statistics.median(latencies) < 0.25, latencies
        good = http.post("/login", json={"username": names[0], "password": PASSWORD})
        assert good.status_code == 200, good.text


def test_failed_attempts_are_rate_limited(tmp_path: Path) -> None:
    env = {
        "TUFSYNC_LOGIN_LIMIT_PER_CLIENT": "12/minute",
        "TUFSYNC_LOGIN_LIMIT_PER_USERNAME": "4/minute",
    }
    with run_server(tmp_path / "srv", env) as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        alice, bob = unique_name(), unique_name()
        assert signup(http, alice).status_code == 200
        assert signup(http, bob).status_code == 200

        # Per username: four failures, then even the right password waits.
        for _ in range(4):
            wrong = http.post("/login", json={"username": alice, "password": "wrong-password"})
            assert wrong.status_code == 401
        for password in ("wrong-password", PASSWORD):
            limited = http.post("/login", json={"username": alice.upper(), "password": password})
            assert limited.status_code == 429, limited.text
            error = limited.json()["error"]
            assert error.startswith("Too many failed login attempts for this username")
            assert "try again in" in error
            assert 1 <= int(limited.headers["Retry-After"]) <= 61
        # Another username from the same address still logs in.
        assert http.post("/login", json={"username": bob, "password": PASSWORD}).status_code == 200

        # Per address: failures on many usernames add up.
        answers = [
            http.post("/login", json={"username": unique_name(), "password": "nope-nope"})
            for _ in range(10)
        ]
        codes = [a.status_code for a in answers]
        assert codes.count(401) == 8 and codes[-1] == 429, codes  # 4 + 8 = 12 failures
        assert "for this address" in answers[-1].json()["error"]

        # Signup has its own windows; a wrong signup key counts as a failure.
        for _ in range(4):
            assert signup(http, "carol_x", api_key="wrong").status_code == 401
        limited = signup(http, "carol_x", api_key="wrong")
        assert limited.status_code == 429
        assert limited.json()["error"].startswith("Too many failed signup attempts")


def test_password_longer_than_1024_bytes_is_400(tmp_path: Path) -> None:
    with run_server(tmp_path / "srv") as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        name = unique_name()
        assert signup(http, name).status_code == 200
        for password in ("p" * 1025, "é" * 600):  # 600 characters are 1,200 bytes
            for response in (
                http.post("/login", json={"username": name, "password": password}),
                signup(http, unique_name(), password=password),
            ):
                assert response.status_code == 400, response.text
                assert "at most 1,024 bytes" in response.json()["error"]
        exact = signup(http, unique_name(), password="p" * 1024)
        assert exact.status_code == 200, exact.text


def test_failures_from_other_addresses_do_not_lock_the_owner_out(tmp_path: Path) -> None:
    """The per-username window holds for addresses that never logged in to the name;
    an address that did (the owner's) meets only its own failures' window."""
    env = {
        "TUFSYNC_LOGIN_LIMIT_PER_CLIENT": "30/minute",
        "TUFSYNC_LOGIN_LIMIT_PER_USERNAME": "10/minute",
    }
    with run_server(tmp_path / "srv", env) as server:
        http = httpx.Client(base_url=server.url, timeout=60)

        def login(address: str, password: str, name: str) -> httpx.Response:
            # uvicorn takes the caller's address from a loopback proxy's X-Forwarded-For.
            return http.post(
                "/login",
                json={"username": name, "password": password},
                headers={"X-Forwarded-For": address},
            )

        owner, other = unique_name(), unique_name()
        for name in (owner, other):
            assert signup(http, name).status_code == 200
        assert login("203.0.113.5", PASSWORD, owner).status_code == 200  # the owner's place

        # Eleven wrong passwords for the owner's name, spread over attacking addresses.
        codes = [
            login(f"198.51.100.{i % 4}", "wrong-password", owner).status_code for i in range(11)
        ]
        assert codes == [401] * 10 + [429], codes

        # The owner still logs in from where they logged in before...
        assert login("203.0.113.5", PASSWORD, owner).status_code == 200
        # ...while an address that never logged in to the name waits, even with the
        # right password, as does an attacking one.
        for address in ("192.0.2.99", "198.51.100.1"):
            limited = login(address, PASSWORD, owner)
            assert limited.status_code == 429, limited.text
            assert limited.json()["error"].startswith(
                "Too many failed login attempts for this username"
            )
        # Another name's owner is not affected by the attack.
        assert login("192.0.2.99", PASSWORD, other).status_code == 200

        # The familiar address's own failures still have a window of the same size.
        for _ in range(10):
            assert login("203.0.113.5", "wrong-password", owner).status_code == 401
        limited = login("203.0.113.5", PASSWORD, owner)
        assert limited.status_code == 429, limited.text
        assert "for this username" in limited.json()["error"]
