"""Login JWTs: HS256, claims ``sub``, ``username``, ``iat``, ``exp``, bound to the account.

A token also carries the account's id (``uid``) and its random token generation
(``gen``); every request checks both against the account, so an account deleted
and re-created under the same name never inherits the old account's tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt


class InvalidToken(Exception):
    """Missing, malformed, expired or forged token."""


@dataclass(frozen=True)
class LoginClaims:
    username: str
    user_id: int
    generation: str


def issue_token(
    secret: str, username: str, user_id: int, generation: str, lifetime_hours: int
) -> str:
    now = int(time.time())
    claims = {
        "sub": username,
        "username": username,
        "uid": user_id,
        "gen": generation,
        "iat": now,
        "exp": now + lifetime_hours * 3600,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_token_with_expiry(secret: str, token: str) -> tuple[LoginClaims, float]:
    """The claims of a valid token and its ``exp`` (seconds since the epoch), or raise
    InvalidToken."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["sub", "exp", "iat", "uid", "gen"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    username = claims.get("username") or claims.get("sub")
    user_id = claims.get("uid")
    generation = claims.get("gen")
    if not isinstance(username, str):
        raise InvalidToken("token has no username")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(generation, str):
        raise InvalidToken("token is not bound to an account")
    return LoginClaims(username, user_id, generation), float(claims["exp"])
