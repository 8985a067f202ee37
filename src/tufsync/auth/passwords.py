"""Password hashing with argon2id (memory-hard), off the event loop in a bounded pool.

argon2 costs tens of milliseconds of CPU and 64 MiB per hash by design; it runs
in a small thread pool (argon2-cffi releases the GIL) so the event loop keeps
answering. At most ``workers`` hashes run at once and at most ``max_waiting``
wait; past that a caller gets :class:`HashingBusy` (a 429) instead of a queue
that grows without bound. Passwords longer than :data:`MAX_PASSWORD_BYTES` are
refused before any hashing.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_PASSWORD_BYTES = 1024
_hasher = PasswordHasher()
# A hash of a random password, verified against when the user does not exist so
# that unknown users and wrong passwords take the same time.
_DUMMY_HASH = _hasher.hash("tufsync-dummy-password")


class HashingBusy(Exception):
    """Too many password checks are already waiting."""


def password_too_long(password: str) -> bool:
    return len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class PasswordPool:
    """Runs hash and verify in a fixed number of threads with a bounded wait list."""

    def __init__(self, workers: int = 2, max_waiting: int = 32) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        self._limit = workers + max_waiting
        self._in_flight = 0

    async def _run(self, func: object, *args: object) -> object:
        if self._in_flight >= self._limit:
            raise HashingBusy()
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, func, *args)  # type: ignore[arg-type]
        finally:
            self._in_flight -= 1

    async def hash(self, password: str) -> str:
        return str(await self._run(hash_password, password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return bool(await self._run(verify_password, password_hash, password))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
