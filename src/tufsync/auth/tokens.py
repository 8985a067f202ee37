"""JWT issue and check: HS256, claims ``sub``, ``username``, ``iat``, ``exp``."""

from __future__ import annotations

import time

import jwt


class InvalidToken(Exception):
    """Missing, malformed, expired or forged token."""


def issue_token(secret: str, username: str, lifetime_hours: int) -> str:
    now = int(time.time())
    claims = {"sub": username, "username": username, "iat": now, "exp": now + lifetime_hours * 3600}
    return jwt.encode(claims, secret, algorithm="HS256")


def read_token(secret: str, token: str) -> str:
    """Return the username of a valid token or raise InvalidToken."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["sub", "exp", "iat"]}
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    username = claims.get("username") or claims.get("sub")
    if not isinstance(username, str):
        raise InvalidToken("token has no username")
    return username
