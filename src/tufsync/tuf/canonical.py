"""Canonical JSON: the one encoding of everything the server signs or verifies.

TUF signs the canonical JSON form of ``signed`` (TUF specification §4.2,
"Metadata format": OLPC canonical JSON as securesystemslib encodes it). Every
signature the server makes or checks, and every keyid it computes, goes
through :func:`canonical_json` (or :class:`CanonicalSerializer`, its python-tuf
``SignedSerializer`` form), so there is exactly one canonical encoding.

It is fast: securesystemslib's ``encode_canonical`` walks the value in Python,
while ``json.dumps`` with sorted keys, no spaces and no ASCII escaping gives the
same bytes for dicts, lists, strings, ints, booleans and None, except that it
escapes control characters (canonical JSON leaves them raw) and writes floats
(canonical JSON has none: securesystemslib refuses them). Such values are
encoded by ``encode_canonical`` itself, which refuses floats just as python-tuf
does; so the result is always byte-identical to python-tuf's
``CanonicalJSONSerializer``, or the same refusal. ``python -m bench.canonical``
measures the gain (signing a 16,384-bin snapshot or a 10,000-target role takes
about half the time of python-tuf's defaults); ``tests/unit/test_canonical.py``
and ``tests/unit/test_canonical_metadata.py`` prove the identity with hypothesis.

Caller input that could not be canonicalised is refused where it enters the
TUF layer (:func:`require_canonical`), with a sentence naming the value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from securesystemslib.formats import encode_canonical
from tuf.api.metadata import Signed
from tuf.api.serialization import SerializationError, SignedSerializer

from tufsync.tuf.errors import TufInputError

_CONTROL_ESCAPE = re.compile(r'\\[^\\"]')


_LEAVES = frozenset({str, int, bool, type(None)})


def _children(item: Any) -> Iterable[Any] | None:
    """The items of a list or the values of a dict with string keys; None otherwise."""
    if type(item) is list:
        return item
    if type(item) is dict and all(type(key) is str for key in item):
        return item.values()
    return None


def _plain(value: Any) -> bool:
    """True when ``value`` is a dict or list made only of dicts with string keys,
    lists, strings, ints, booleans and None (exact types), where ``json.dumps``
    agrees with canonical JSON."""
    if type(value) is not dict and type(value) is not list:
        return False
    stack = [value]
    while stack:
        children = _children(stack.pop())
        if children is None:
            return False
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append(child)
            elif kind not in _LEAVES:
                return False
    return True


def canonical_json(value: Any) -> bytes:
    """The canonical JSON encoding of ``value`` as UTF-8 bytes.

    Raises securesystemslib's ``FormatError`` for what canonical JSON cannot
    encode (floats, non-JSON types), as ``encode_canonical`` does.
    """
    if _plain(value):
        try:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            text = None  # not JSON-like: encode_canonical says why below
        if text is not None and not ("\\" in text and _CONTROL_ESCAPE.search(text)):
            return text.encode("utf-8")
    return str(encode_canonical(value)).encode("utf-8")


class CanonicalSerializer(SignedSerializer):
    """python-tuf's ``SignedSerializer`` over :func:`canonical_json`: the same bytes
    as ``CanonicalJSONSerializer``, the same ``SerializationError``."""

    def serialize(self, signed_obj: Signed) -> bytes:
        try:
            return canonical_json(signed_obj.to_dict())
        except Exception as exc:
            raise SerializationError from exc


_SERIALIZER = CanonicalSerializer()


class SerializedOnce(SignedSerializer):
    """The canonical bytes of one ``signed`` object, computed once: every signer of
    :meth:`tuf.api.metadata.Metadata.sign` and the check after them read them
    (``as_dict`` is the dict they encode)."""

    def __init__(self, signed: Signed) -> None:
        self.signed = signed
        self.as_dict = signed.to_dict()
        try:
            self.payload = canonical_json(self.as_dict)
        except Exception as exc:
            raise SerializationError from exc

    def serialize(self, signed_obj: Signed) -> bytes:
        if signed_obj is not self.signed:
            return _SERIALIZER.serialize(signed_obj)
        return self.payload


def signed_bytes(signed: Signed) -> bytes:
    """The canonical bytes of ``signed``: what its signatures are over."""
    return _SERIALIZER.serialize(signed)


def _items(value: Any, path: str) -> list[tuple[str, Any]]:
    """The children of a JSON value with their paths (none for a scalar)."""
    if isinstance(value, dict):
        return [(f"{path}.{key}" if path else str(key), child) for key, child in value.items()]
    if isinstance(value, list):
        return [(f"{path}[{i}]", child) for i, child in enumerate(value)]
    return []


def fraction_path(value: Any, path: str = "") -> tuple[str, float] | None:
    """Where ``value`` first holds a float (a JSON path such as
    ``signed.keys.<id>.keyval.x``) and the number; None when it holds none."""
    if type(value) is float:
        return path, value
    for child_path, child in _items(value, path):
        found = fraction_path(child, child_path)
        if found is not None:
            return found
    return None


def require_canonical(value: Any, where: str) -> None:
    """Refuse caller JSON that canonical JSON cannot encode (a fractional or
    exponent number anywhere), naming where it is: signed as such it would give
    metadata that no TUF client can verify."""
    if _plain(value):
        return  # the common case, checked without building paths
    found = fraction_path(value)
    if found is None:
        return
    path, number = found
    at = f"{where}.{path}" if path else where
    raise TufInputError(
        f"{at} is the number {number!r}: TUF metadata is signed as canonical JSON, "
        "which has only whole numbers; send a whole number or a string"
    )
