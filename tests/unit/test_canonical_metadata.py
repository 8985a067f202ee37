"""The server's canonical bytes of TUF metadata are python-tuf's, byte for byte.

Over generated metadata of every type (nested extra fields on roles, keys,
key values, target and meta files; unicode and control characters; integers far
beyond 64 bits): :func:`tufsync.tuf.canonical.signed_bytes` equals python-tuf's
``CanonicalJSONSerializer``, the spliced file bytes equal ``Metadata.to_bytes``,
and metadata holding a float anywhere is refused by both, never encoded.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from securesystemslib.signer import Signature, SSlibKey
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Role,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization import SerializationError
from tuf.api.serialization.json import CanonicalJSONSerializer, JSONSerializer

from tufsync.tuf.canonical import (
    CanonicalSerializer,
    fraction_path,
    require_canonical,
    signed_bytes,
)
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.signing import _envelope

texts = st.text(max_size=12)
big_ints = st.integers(min_value=-(2**200), max_value=2**200)
json_values = st.recursive(
    st.none() | st.booleans() | big_ints | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=20,
)
extra_fields = st.dictionaries(texts.map(lambda t: "x-" + t), json_values, max_size=3)
versions = st.integers(min_value=1, max_value=2**70)
lengths = st.integers(min_value=0, max_value=2**70)
hashes = st.dictionaries(texts, texts, min_size=1, max_size=2)
EXPIRES = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


@st.composite
def keys(draw: st.DrawFn) -> SSlibKey:
    keyval = {"public": draw(texts)} | draw(st.dictionaries(texts, json_values, max_size=2))
    return SSlibKey(draw(texts), "ed25519", "ed25519", keyval, draw(extra_fields))


@st.composite
def roots(draw: st.DrawFn) -> Root:
    found = draw(st.lists(keys(), max_size=3, unique_by=lambda k: k.keyid))
    by_id = {k.keyid: k for k in found}
    keyids = st.lists(st.sampled_from(sorted(by_id) or [""]), max_size=2, unique=True)
    roles = {
        name: Role(draw(keyids) if by_id else [], draw(st.integers(1, 3)), draw(extra_fields))
        for name in ("root", "timestamp", "snapshot", "targets")
    }
    return Root(
        draw(versions), None, EXPIRES, by_id, roles, draw(st.booleans()), draw(extra_fields)
    )


@st.composite
def targets(draw: st.DrawFn) -> Targets:
    files = {
        path: TargetFile(draw(lengths), draw(hashes), path, draw(extra_fields))
        for path in draw(st.lists(texts, max_size=3, unique=True))
    }
    delegations = None
    if draw(st.booleans()):
        found = draw(st.lists(keys(), max_size=2, unique_by=lambda k: k.keyid))
        names = draw(st.lists(texts.map(lambda t: "r-" + t), min_size=1, max_size=2, unique=True))
        delegations = Delegations(
            {k.keyid: k for k in found},
            {
                name: DelegatedRole(
                    name,
                    [k.keyid for k in found],
                    1,
                    draw(st.booleans()),
                    draw(st.lists(texts, min_size=1, max_size=2)),
                    unrecognized_fields=draw(extra_fields),
                )
                for name in names
            },
            unrecognized_fields=draw(extra_fields),
        )
    return Targets(draw(versions), None, EXPIRES, files, delegations, draw(extra_fields))


def meta_files(draw: st.DrawFn) -> MetaFile:
    length = draw(st.none() | lengths)
    return MetaFile(draw(versions), length, draw(st.none() | hashes), draw(extra_fields))


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    meta = {name: meta_files(draw) for name in draw(st.lists(texts, max_size=4, unique=True))}
    return Snapshot(draw(versions), None, EXPIRES, meta, draw(extra_fields))


@st.composite
def timestamps(draw: st.DrawFn) -> Timestamp:
    return Timestamp(draw(versions), None, EXPIRES, meta_files(draw), draw(extra_fields))


any_signed = st.one_of(roots(), targets(), snapshots(), timestamps())
REFERENCE = CanonicalJSONSerializer()


@settings(max_examples=250, deadline=None)
@given(any_signed)
def test_canonical_bytes_are_python_tufs(signed: Signed) -> None:
    assert signed_bytes(signed) == REFERENCE.serialize(signed)


@settings(max_examples=150, deadline=None)
@given(any_signed)
def test_spliced_file_bytes_are_python_tufs(signed: Signed) -> None:
    md = Metadata(signed, {"ab": Signature("ab", "cd")})
    sigs = [{"keyid": "ab", "sig": "cd"}]
    spliced = _envelope(sigs, signed.to_dict(), signed_bytes(signed))
    assert spliced == md.to_bytes(JSONSerializer(compact=True))


def _with_float(value: Any, number: float, draw: st.DrawFn) -> Any:
    """``value`` with ``number`` put somewhere inside: an ``x-float`` field added to
    one of its objects, or an item added to one of its lists."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return value | {key: _with_float(value[key], number, draw)}
    if isinstance(value, list) and value and draw(st.booleans()):
        i = draw(st.integers(0, len(value) - 1))
        return [*value[:i], _with_float(value[i], number, draw), *value[i + 1 :]]
    if isinstance(value, dict):
        return value | {"x-float": number}
    return [*value, number] if isinstance(value, list) else value


@settings(max_examples=150, deadline=None)
@given(any_signed, st.floats(allow_nan=False, allow_infinity=False), st.data())
def test_a_float_anywhere_is_refused_by_both(signed: Signed, number: float, data: Any) -> None:
    """Metadata holding a float is never encoded: python-tuf refuses it, so does the
    server's serializer, and caller input holding one is a TufInputError naming it."""
    raw = _with_float(signed.to_dict(), number, data.draw)
    assume(raw != signed.to_dict())
    with pytest.raises(TufInputError, match=r"is the number .* canonical JSON"):
        require_canonical({"signed": raw}, "metadata.root")
    try:
        mutated = type(signed).from_dict(copy.deepcopy(raw))
    except (ValueError, TypeError, KeyError, AttributeError):
        assume(False)  # the float took the place of a typed field python-tuf checks
        return
    assume(fraction_path(mutated.to_dict()) is not None)  # python-tuf kept it
    with pytest.raises(SerializationError):
        REFERENCE.serialize(mutated)
    with pytest.raises(SerializationError):
        CanonicalSerializer().serialize(mutated)


def test_float_location_is_named() -> None:
    raw = {"signed": {"delegations": {"roles": [{"name": "a"}, {"x-weight": 1.5}]}}}
    with pytest.raises(TufInputError) as caught:
        require_canonical(raw, "metadata.targets")
    assert str(caught.value).startswith(
        "metadata.targets.signed.delegations.roles[1].x-weight is the number 1.5: TUF metadata"
    )
    require_canonical({"a": [1, 2**100, "1.5", None, True]}, "fine")
