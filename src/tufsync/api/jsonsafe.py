"""The safe JSON parser of request bodies; it lives in :mod:`tufsync.jsonsafe` (the
operations use it too) and the routes import it from here."""

from __future__ import annotations

from tufsync.jsonsafe import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    JsonProblem,
    parse_json,
    parse_json_async,
    small_int,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "JsonProblem",
    "parse_json",
    "parse_json_async",
    "small_int",
]
