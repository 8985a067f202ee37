"""The fast canonical encoder gives exactly securesystemslib's bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from securesystemslib.formats import encode_canonical

from tufsync.tuf.canonical import canonical_json
from tufsync.tuf.signing import _envelope

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


def reference(value: Any) -> bytes:
    return str(encode_canonical(value)).encode("utf-8")


@settings(max_examples=600, deadline=None)
@given(json_values)
def test_identical_to_securesystemslib(value: Any) -> None:
    assert canonical_json(value) == reference(value)


def test_edge_cases() -> None:
    for value in [
        {"path/ü/日本.deb": {"length": 1, "hashes": {"sha256": "ab"}}},
        {"a": 'quote " and back\\slash', "b": "new\nline\ttab\x00nul\x1f"},
        {"a\\n": "\\\n", "z": [True, False, None, -1, 0]},
        {"emoji": "🙂", "rtl": "\u202e", "ls": "\u2028"},
        [],
        {},
    ]:
        assert canonical_json(value) == reference(value)


def _old_envelope(signatures: list[dict[str, Any]], signed: dict[str, Any]) -> bytes:
    envelope = {"signatures": signatures, "signed": signed}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode("utf-8")


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_metadata_file_bytes_unchanged_by_splicing(signed: dict[str, Any]) -> None:
    """A file spliced from the canonical payload is byte for byte the file encoded whole."""
    sigs = [{"keyid": "ab", "sig": "cd"}]
    assert _envelope(sigs, signed, canonical_json(signed)) == _old_envelope(sigs, signed)


def test_metadata_file_bytes_edge_cases() -> None:
    sigs = [{"keyid": "ab", "sig": "cd"}]
    for signed in [
        {"t": "plain"},
        {"t": "del\x7fchar"},
        {"t": "nul\x00 and \x1f"},
        {"t": "ü 日本 🙂 \u2028"},
        {"t": 'quote " back\\slash \n'},
    ]:
        assert _envelope(sigs, signed, canonical_json(signed)) == _old_envelope(sigs, signed)
