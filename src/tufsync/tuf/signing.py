"""Signing with online keys and checking the result before anything is published.

Every online signer is a :class:`TenantSigner`, which never signs targets-type
metadata listing paths outside the tenant's prefix.
"""

from __future__ import annotations

import json
from typing import Any

from securesystemslib.signer import Key, Signature, Signer
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, Root, Targets
from tuf.api.serialization.json import CanonicalJSONSerializer

from tufsync.names import is_safe_key, tenant_target_prefix
from tufsync.tuf.canonical import canonical_json
from tufsync.tuf.errors import OnlineKeyUnavailable, TufInputError, VerificationFailed
from tufsync.tuf.keys import OnlineKeyStore

_CANONICAL = CanonicalJSONSerializer()


def role_keys(delegator: Root | Targets, role: str) -> tuple[dict[str, Key], int]:
    """The keys allowed to sign ``role`` and its threshold, as ``delegator`` says."""
    spec = delegator.get_delegated_role(role)
    keys: dict[str, Key] = {}
    for keyid in spec.keyids:
        try:
            keys[keyid] = delegator.get_key(keyid)
        except ValueError:
            continue
    return keys, spec.threshold


class ForeignTargets(TufInputError):
    """Targets-type metadata lists a path outside the tenant's prefix; not signed."""


def foreign_target_paths(payload: bytes, prefix: str) -> list[str]:
    """Target paths outside ``prefix`` listed by the metadata whose canonical ``signed``
    bytes are ``payload`` (none for snapshot and timestamp)."""
    try:
        signed = json.loads(payload)
    except ValueError:
        raise ForeignTargets("the server signs only TUF metadata") from None
    if not isinstance(signed, dict):
        raise ForeignTargets("the server signs only TUF metadata")
    if signed.get("_type") != "targets":
        return []
    targets = signed.get("targets") or {}
    return [p for p in targets if not (p.startswith(prefix) and is_safe_key(p))]


class TenantSigner:
    """An online signer bound to one tenant. It refuses to sign targets or delegated
    metadata listing a target path outside ``<app>-<admin>/`` (API.md §5.1: the server
    only ever signs that tenant's own artifacts). Every online signature goes through
    here, whichever flow asks for it."""

    def __init__(self, signer: Signer, admin: str, app: str) -> None:
        self._signer = signer
        self.prefix = tenant_target_prefix(admin, app)

    @property
    def public_key(self) -> Key:
        return self._signer.public_key

    def sign(self, payload: bytes) -> Signature:
        foreign = foreign_target_paths(payload, self.prefix)
        if foreign:
            shown = ", ".join(repr(p) for p in sorted(foreign)[:3])
            raise ForeignTargets(
                f"the server does not sign metadata listing target paths outside "
                f"{self.prefix!r} ({len(foreign)} such path(s), e.g. {shown}): a repository "
                "only lists its own artifacts"
            )
        return self._signer.sign(payload)


def online_signers(
    keystore: OnlineKeyStore, admin: str, app: str, delegator: Root | Targets, role: str
) -> list[TenantSigner]:
    """Load the online signers of ``role``; raise unless they meet its threshold."""
    keys, threshold = role_keys(delegator, role)
    signers = []
    for key in keys.values():
        signer = keystore.load_signer(admin, app, key)
        if signer is not None:
            signers.append(TenantSigner(signer, admin, app))
    if len(signers) < threshold:
        missing = sorted(set(keys) - {s.public_key.keyid for s in signers})
        raise OnlineKeyUnavailable(
            f"the server cannot sign role {role!r}: online key(s) {missing} are not in the "
            f"online key folder of {admin}/{app}"
        )
    return signers


def sign_and_verify(
    md: Metadata[Any], role: str, signers: list[TenantSigner], delegator: Root | Targets
) -> bytes:
    """Replace ``md``'s signatures with ones from ``signers``, verify them, and
    return the file bytes to publish.

    ``signed`` is turned into a dict once; its canonical bytes serve signing and
    checking, and the same dict is serialised into the file.
    """
    signed = md.signed.to_dict()
    payload = canonical_json(signed)
    md.signatures.clear()
    for signer in signers:
        sig = signer.sign(payload)
        md.signatures[sig.keyid] = sig
    try:
        delegator.verify_delegate(role, payload, md.signatures)
    except UnsignedMetadataError as exc:
        raise VerificationFailed(f"freshly signed {role} does not verify: {exc}") from exc
    envelope = {"signatures": [sig.to_dict() for sig in md.signatures.values()], "signed": signed}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode("utf-8")


def canonical_bytes(md: Metadata[Any]) -> bytes:
    return _CANONICAL.serialize(md.signed)


def verify_signed(md: Metadata[Any], role: str, delegator: Root | Targets) -> None:
    """Check that ``md`` (signed elsewhere) meets its threshold before publishing it."""
    try:
        delegator.verify_delegate(role, canonical_bytes(md), md.signatures)
    except UnsignedMetadataError as exc:
        raise VerificationFailed(f"{role} does not verify: {exc}") from exc
