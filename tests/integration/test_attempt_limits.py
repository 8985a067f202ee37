"""The login/signup attempt windows in both storages (docs/api.md §2).

Embedded mode keeps them in memory; scale-out in Redis, where every API process
sees the same counts (two limiters on one real Redis database stand for two
processes).
"""

from __future__ import annotations

import asyncio

import redis

from tufsync.auth.passwords import HashingBusy, PasswordPool
from tufsync.auth.ratelimit import FAMILIAR_SECONDS, KEY_PREFIX, AttemptLimiter
from tufsync.services import login_limiter
from tufsync.settings import Settings


async def test_memory_windows_per_address_and_username() -> None:
    limiter = AttemptLimiter("async+memory://", "3/minute", "2/minute")
    assert await limiter.refusal("login", "10.0.0.1", "alice") is None
    await limiter.failed("login", "10.0.0.1", "alice")
    await limiter.failed("login", "10.0.0.2", "Alice")  # usernames ignore case
    refusal = await limiter.refusal("login", "10.0.0.3", "ALICE")
    assert refusal is not None and refusal.scope == "username"
    assert 1 <= refusal.retry_after <= 61
    assert await limiter.refusal("signup", "10.0.0.3", "alice") is None  # its own windows
    await limiter.failed("login", "10.0.0.1", "bob")
    await limiter.failed("login", "10.0.0.1", "carol")
    refusal = await limiter.refusal("login", "10.0.0.1", "dave")
    assert refusal is not None and refusal.scope == "address"
    assert "Too many failed login attempts for this address" in refusal.sentence("login")


async def test_redis_windows_are_shared_by_processes(redis_db: str) -> None:
    settings = Settings(
        redis_url=redis_db, login_limit_per_client="50/minute", login_limit_per_username="3/minute"
    )
    first, second = login_limiter(settings), login_limiter(settings)
    for limiter in (first, second, first):
        assert await limiter.refusal("login", "192.0.2.7", "mallory") is None
        await limiter.failed("login", "192.0.2.7", "mallory")
    refusal = await second.refusal("login", "198.51.100.1", "mallory")
    assert refusal is not None and refusal.scope == "username"
    keys = [k.decode() for k in redis.Redis.from_url(redis_db).keys("*")]
    assert keys and all(k.startswith(KEY_PREFIX) for k in keys), keys
    assert not any("mallory" in k or "192.0.2.7" in k for k in keys), keys  # hashed


async def test_password_pool_is_bounded() -> None:
    pool = PasswordPool(workers=1, max_waiting=1)
    stored = await pool.hash("correct horse")
    results = await asyncio.gather(
        *(pool.verify(stored, "wrong password") for _ in range(3)), return_exceptions=True
    )
    assert sum(isinstance(r, HashingBusy) for r in results) == 1, results
    assert results.count(False) == 2, results
    assert await pool.verify(stored, "correct horse") is True  # room again once they finish
    pool.close()


async def _familiar_address_is_not_locked_out(
    first: AttemptLimiter, second: AttemptLimiter
) -> None:
    """Shared by both storages: ``first`` and ``second`` may be two processes."""
    await first.succeeded("login", "203.0.113.5", "Owner")  # the owner logged in from here
    for i in range(3):
        await second.failed("login", f"198.51.100.{i}", "owner")
    for limiter in (first, second):
        refusal = await limiter.refusal("login", "192.0.2.1", "OWNER")  # never logged in here
        assert refusal is not None and refusal.scope == "username"
        assert await limiter.refusal("login", "203.0.113.5", "owner") is None
        assert await limiter.familiar("login", "203.0.113.5", "owner")
        assert not await limiter.familiar("signup", "203.0.113.5", "owner")  # per action
    # The familiar address's own failures meet a window of the per-username size.
    for _ in range(3):
        await first.failed("login", "203.0.113.5", "owner")
    refusal = await second.refusal("login", "203.0.113.5", "owner")
    assert refusal is not None and refusal.scope == "username"


async def test_memory_familiar_address_is_not_locked_out() -> None:
    limiter = AttemptLimiter("async+memory://", "50/minute", "3/minute")
    await _familiar_address_is_not_locked_out(limiter, limiter)


async def test_redis_familiar_address_is_not_locked_out(redis_db: str) -> None:
    settings = Settings(
        redis_url=redis_db, login_limit_per_client="50/minute", login_limit_per_username="3/minute"
    )
    first, second = login_limiter(settings), login_limiter(settings)
    await _familiar_address_is_not_locked_out(first, second)
    client = redis.Redis.from_url(redis_db)
    keys = [k.decode() for k in client.keys("*")]
    assert keys and all(k.startswith(KEY_PREFIX) for k in keys), keys
    assert not any("owner" in k.lower() or "203.0.113.5" in k for k in keys), keys
    familiar = [k for k in keys if ":login:k:" in k]
    assert len(familiar) == 1, keys
    assert FAMILIAR_SECONDS - 60 < client.ttl(familiar[0]) <= FAMILIAR_SECONDS
    client.close()
