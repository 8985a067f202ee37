"""The API-token scope of the request being served.

Authentication sets it for every authenticated request: ``None`` for an admin's
own login, else the names of the apps the API token covers. Registry lookups
that every token route goes through (``owned_version``, task reads) check it, so
a route cannot forget the scope.
"""

from __future__ import annotations

from contextvars import ContextVar

_scope: ContextVar[frozenset[str] | None] = ContextVar("tufsync_token_scope", default=None)


class OutOfScope(Exception):
    """The request's API token does not cover the app it names (HTTP 403)."""

    def __init__(self, app: str) -> None:
        super().__init__(f"This API token has no access to app {app!r}")
        self.app = app


def set_scope(apps: frozenset[str] | None) -> None:
    _scope.set(apps)


def require_app(app: str) -> None:
    """Raise OutOfScope when the request's API token does not cover ``app``."""
    scope = _scope.get()
    if scope is not None and app not in scope:
        raise OutOfScope(app)
