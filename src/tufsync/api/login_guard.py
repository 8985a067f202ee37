"""What login and signup check before any password is hashed (docs/api.md §2).

Password length (at most 1,024 bytes, else 400), the failed-attempt windows of
the caller's address and the username (429 with the seconds to wait), and the
password pool's wait list (429 when full).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

from tufsync.api.errors import ApiError, bad_request
from tufsync.auth.passwords import MAX_PASSWORD_BYTES, HashingBusy, password_too_long
from tufsync.services import Services

T = TypeVar("T")
BUSY_RETRY_SECONDS = 2


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_password_length(password: str) -> None:
    if password_too_long(password):
        raise bad_request(f"password must be at most {MAX_PASSWORD_BYTES:,} bytes long")


async def check_attempts(services: Services, request: Request, action: str, username: str) -> None:
    refusal = await services.attempts.refusal(action, client_address(request), username)
    if refusal is not None:
        raise ApiError(
            429,
            refusal.sentence(action),
            headers={"Retry-After": str(refusal.retry_after)},
        )


async def pooled(work: Awaitable[T]) -> T:
    """Await a password pool call; a full wait list becomes a 429."""
    try:
        return await work
    except HashingBusy:
        raise ApiError(
            429,
            "The server is checking too many passwords right now; "
            f"try again in {BUSY_RETRY_SECONDS} seconds.",
            headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
        ) from None
