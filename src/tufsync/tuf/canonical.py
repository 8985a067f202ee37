"""Canonical JSON (OLPC, as securesystemslib encodes it), fast.

securesystemslib's ``encode_canonical`` walks the object in Python. For
JSON-like values made of dicts, lists, strings, ints, booleans and None,
``json.dumps`` with sorted keys, no spaces and no ASCII escaping gives the
same bytes, except that it escapes control characters, which canonical JSON
leaves raw. Such output is detected (a backslash followed by anything but a
backslash or a quote) and re-encoded the slow way, so the result is always
byte-identical; ``tests/unit/test_canonical.py`` proves it with hypothesis.
Floats are not valid canonical JSON and never occur in the metadata we sign.
"""

from __future__ import annotations

import json
import re
from typing import Any

from securesystemslib.formats import encode_canonical

_CONTROL_ESCAPE = re.compile(r'\\[^\\"]')


def canonical_json(value: Any) -> bytes:
    """The canonical JSON encoding of ``value`` as UTF-8 bytes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if "\\" in text and _CONTROL_ESCAPE.search(text):
        return str(encode_canonical(value)).encode("utf-8")
    return text.encode("utf-8")
