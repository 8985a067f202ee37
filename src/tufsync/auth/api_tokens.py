"""API tokens (faynoSync's ``fns_`` tokens): generation, hashing and what they may do.

The secret is ``fns_`` + 64 hex digits, shown once; only its SHA-256 is stored, with
a 12-character prefix for the owner to recognise it. A token acts for its admin on
the apps it names, and only on the routes a pipeline needs (upload, search, publish,
removal from TUF, task polling); every other route needs the admin's own login.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "fns_"
_RANDOM_BYTES = 32
_SHOWN_PREFIX_HEX = 8

# (method, route path) an API token may call; anything else answers 403.
TOKEN_ROUTES = frozenset(
    {
        ("POST", "/upload"),
        ("GET", "/search"),
        ("POST", "/tuf/v1/artifacts/publish"),
        ("POST", "/tuf/v1/artifacts/delete"),
        ("GET", "/tuf/v1/task"),
    }
)
LOGIN_REQUIRED = (
    "API tokens may only upload, search, publish, remove artifacts from TUF and read "
    "tasks; this route needs the admin's own login"
)


def is_api_token(token: str) -> bool:
    return token.startswith(PREFIX)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate() -> tuple[str, str, str]:
    """A new token: (secret shown once, prefix shown in lists, hash stored)."""
    random_hex = secrets.token_hex(_RANDOM_BYTES)
    token = PREFIX + random_hex
    return token, PREFIX + random_hex[:_SHOWN_PREFIX_HEX], hash_token(token)
