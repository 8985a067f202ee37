"""Errors the engine raises; the API maps them to status codes."""

from __future__ import annotations


class TufError(Exception):
    """Base class; ``str(exc)`` is a sentence a user can act on."""


class TufInputError(TufError):
    """The caller sent something invalid (400)."""


class OnlineKeysMissing(TufInputError):
    """A request names online keys the server cannot sign with (400); the sentence
    names each key, the folder it must be in and the route that makes one."""


class NotBootstrapped(TufError):
    """The repository has no completed bootstrap (404)."""


class RoleNotFound(TufError):
    """The role is not delegated by the trusted metadata (404)."""


class OnlineKeyUnavailable(TufError):
    """An online role's private key cannot be loaded by the server."""


class VerificationFailed(TufError):
    """Freshly signed metadata did not verify; nothing was published."""
