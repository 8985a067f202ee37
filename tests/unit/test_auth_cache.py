"""The sign-in caches trust an entry only under the epoch it was read at (pure logic)."""

from __future__ import annotations

import time

import jwt
import pytest

from tufsync.auth.cache import AuthCache, CachedAccount, CachedApiToken, VerifiedTokens
from tufsync.auth.tokens import InvalidToken, issue_token

SECRET = "unit-test-secret-0123456789abcdef"


class StepEpoch:
    """An epoch the test moves by hand (None: cannot vouch)."""

    def __init__(self) -> None:
        self.value: int | None = 0

    def current(self) -> int | None:
        return self.value

    def changed(self) -> None:
        assert self.value is not None
        self.value += 1

    async def close(self) -> None:
        return None


def account(epoch: int) -> CachedAccount:
    return CachedAccount(1, "alice", "gen", epoch)


def test_an_entry_serves_only_its_own_epoch() -> None:
    epoch = StepEpoch()
    cache = AuthCache(epoch)
    cache.keep_account(account(0))
    assert cache.account(1, epoch.current()) == account(0)
    epoch.value = 1  # an account or token changed somewhere
    assert cache.account(1, epoch.current()) is None


def test_no_epoch_means_no_cache() -> None:
    epoch = StepEpoch()
    cache = AuthCache(epoch)
    cache.keep_account(account(0))
    epoch.value = None  # e.g. the PostgreSQL listener is down
    assert cache.account(1, epoch.current()) is None
    assert AuthCache().account(1, AuthCache().current_epoch()) is None


def test_changed_forgets_every_entry_in_this_process() -> None:
    epoch = StepEpoch()
    cache = AuthCache(epoch)
    cache.keep_account(account(0))
    cache.keep_api_token("d", CachedApiToken(1, "alice", frozenset({"a"}), None, None, 0))
    cache.changed()
    assert epoch.value == 1
    assert cache.account(1, 0) is None and cache.api_token("d", 0) is None


def test_maps_are_bounded() -> None:
    epoch = StepEpoch()
    cache = AuthCache(epoch, limit=3)
    for user_id in range(10):
        cache.keep_account(CachedAccount(user_id, f"u{user_id}", "g", 0))
    assert sum(cache.account(i, 0) is not None for i in range(10)) <= 3


def test_verified_tokens_keep_their_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = VerifiedTokens()
    now = int(time.time())
    claims_in = {"sub": "alice", "username": "alice", "uid": 7, "gen": "gen", "iat": now}
    token = jwt.encode({**claims_in, "exp": now + 2}, SECRET, algorithm="HS256")
    claims = tokens.claims(SECRET, token)
    assert (claims.username, claims.user_id, claims.generation) == ("alice", 7, "gen")
    calls: list[int] = []
    real = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert tokens.claims(SECRET, token) == claims and calls == []  # served from the cache
    time.sleep(max(0.0, now + 3 - time.time()))  # past exp: verified again, and refused
    with pytest.raises(InvalidToken):
        tokens.claims(SECRET, token)
    assert calls == [1]


def test_forged_tokens_are_never_cached() -> None:
    tokens = VerifiedTokens()
    forged = issue_token("another-secret-0123456789abcdefgh", "alice", 7, "gen", 1)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens.claims(SECRET, forged)
