"""Parsing JSON that callers send: every problem is a :class:`JsonProblem` (a 400), never a crash.

Standard ``json.loads`` raises RecursionError on deeply nested input, ValueError on
integers of thousands of digits, and accepts ``NaN``/``Infinity`` and ``1e999``
(infinity). Here nesting is bounded, integers have at most :data:`MAX_INT_DIGITS`
digits, floats must be finite, and the non-standard constants are refused. Large
bodies are parsed in a worker thread so the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 64
MAX_INT_DIGITS = 32
THREAD_PARSE_BYTES = 256 * 1024


class JsonProblem(ValueError):
    """The text is not JSON this service accepts; the message (after "the body") says why."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise JsonProblem(
            f"holds a number of {digits} digits; at most {MAX_INT_DIGITS} are accepted"
        )
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonProblem(f"holds the number {text[:40]}, which is too large")
    return value


def _parse_constant(text: str) -> Any:
    raise JsonProblem(f"holds {text}, which JSON does not allow")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_LONE_SURROGATE = "holds text that is not valid Unicode (a lone surrogate)"


def _children(item: Any, texts: bool) -> Iterable[Any] | None:
    """The values of a dict or the items of a list (None for a scalar); when ``texts``,
    refuse keys and strings with lone surrogates."""
    if isinstance(item, dict):
        if texts and not all(_valid_text(key) for key in item):
            raise JsonProblem(_LONE_SURROGATE)
        return item.values()
    if isinstance(item, list):
        return item
    if texts and isinstance(item, str) and not _valid_text(item):
        raise JsonProblem(_LONE_SURROGATE)
    return None


def _check_values(value: Any, texts: bool) -> None:
    """Refuse nesting deeper than MAX_DEPTH (later code walks values recursively) and,
    when ``texts``, strings with lone surrogates (not Unicode; they break encoders)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = _children(item, texts)
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise JsonProblem(f"is nested more than {MAX_DEPTH} levels deep")
        stack.extend(
            (child, depth + 1) for child in children if texts or isinstance(child, dict | list)
        )


def parse_json(text: str | bytes) -> Any:
    """Parse ``text`` or raise JsonProblem with a sentence saying what is wrong."""
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except JsonProblem:
        raise
    except RecursionError:
        raise JsonProblem(f"is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise JsonProblem(f"is not valid JSON ({reason})") from None
    if isinstance(text, bytes):
        surrogates = _SURROGATE_ESCAPE_BYTES.search(text) is not None
    else:
        surrogates = _SURROGATE_ESCAPE.search(text) is not None or not _valid_text(text)
    _check_values(value, surrogates)
    return value


async def parse_json_async(raw: bytes) -> Any:
    """``parse_json``, in a worker thread when the body is large."""
    if len(raw) > THREAD_PARSE_BYTES:
        return await asyncio.to_thread(parse_json, raw)
    return parse_json(raw)


def small_int(text: str | None, max_digits: int = 18) -> int | None:
    """``text`` as a non-negative integer of ASCII digits, or None (unlike ``int``,
    never raises on '²', other Unicode digits or thousands of digits)."""
    if text is None or not 1 <= len(text) <= max_digits or not text.isascii():
        return None
    return int(text) if text.isdigit() else None
