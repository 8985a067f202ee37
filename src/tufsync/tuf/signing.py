"""Signing with online keys and checking the result before anything is published.

Every online signer is a :class:`~tufsync.tuf.keys.TenantSigner`, which never
signs targets-type metadata listing paths outside the tenant's prefix.
"""

from __future__ import annotations

import json
import re
from typing import Any

from securesystemslib.signer import Key
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, Root, Targets

from tufsync.tuf.canonical import SerializedOnce, signed_bytes
from tufsync.tuf.errors import OnlineKeyUnavailable, TufError, VerificationFailed
from tufsync.tuf.keys import OnlineKeyStore, TenantSigner, sign_error_reason

_RAW_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


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


def online_signers(
    keystore: OnlineKeyStore, admin: str, app: str, delegator: Root | Targets, role: str
) -> list[TenantSigner]:
    """Load the online signers of ``role``; raise unless they meet its threshold."""
    keys, threshold = role_keys(delegator, role)
    signers: list[TenantSigner] = []
    reasons: dict[str, str] = {}
    for keyid, key in keys.items():
        try:
            signers.append(keystore.try_load(admin, app, key))
        except OnlineKeyUnavailable as exc:
            reasons[keyid] = str(exc)
    if len(signers) < threshold:
        why = "; ".join(f"key {kid}: {reason}" for kid, reason in sorted(reasons.items()))
        raise OnlineKeyUnavailable(f"the server cannot sign role {role!r}: {why}")
    return signers


def sign_and_verify(
    md: Metadata[Any], role: str, signers: list[TenantSigner], delegator: Root | Targets
) -> bytes:
    """Replace ``md``'s signatures with ones from ``signers``, verify them, and
    return the file bytes to publish.

    ``signed`` is serialised once (:class:`~tufsync.tuf.canonical.SerializedOnce`);
    every signature and the threshold check are over those bytes, and the file
    is spliced around them.
    """
    once = SerializedOnce(md.signed)
    md.signatures.clear()
    for signer in signers:
        try:
            md.sign(signer, append=True, signed_serializer=once)
        except UnsignedMetadataError as exc:
            cause = exc.__cause__ or exc
            raise _signing_failure(role, signer, cause) from (
                None if isinstance(cause, TufError) else cause
            )
    try:
        delegator.verify_delegate(role, once.payload, md.signatures)
    except UnsignedMetadataError as exc:
        raise VerificationFailed(f"freshly signed {role} does not verify: {exc}") from exc
    signatures = [sig.to_dict() for sig in md.signatures.values()]
    return _envelope(signatures, once.as_dict, once.payload)


def _signing_failure(role: str, signer: TenantSigner, cause: BaseException) -> TufError:
    """The tenant signer's own refusal (paths outside the tenant) as it is; a key
    service or token failing says which key and why."""
    if isinstance(cause, TufError):
        return cause
    keyid = signer.public_key.keyid
    return OnlineKeyUnavailable(
        f"the server cannot sign role {role!r} with key {keyid}: {sign_error_reason(cause)}"
    )


def _envelope(signatures: list[dict[str, Any]], signed: dict[str, Any], payload: bytes) -> bytes:
    """The file bytes: ``{"signatures": ..., "signed": ...}``, compact, sorted keys,
    ASCII (non-ASCII escaped).

    When the canonical ``payload`` is plain ASCII without control characters it
    is exactly that encoding of ``signed`` (canonical JSON is compact with sorted
    keys, and escapes nothing else), so it is spliced in rather than encoded a
    second time: for a snapshot listing 1,024 hash bins that is half the work.
    """
    if payload.isascii() and not _RAW_CONTROL.search(payload):
        head = json.dumps(signatures, separators=(",", ":"), sort_keys=True).encode("ascii")
        return b'{"signatures":' + head + b',"signed":' + payload + b"}"
    envelope = {"signatures": signatures, "signed": signed}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode("utf-8")


def canonical_bytes(md: Metadata[Any]) -> bytes:
    """The canonical bytes of ``md.signed`` (what its signatures are over)."""
    return signed_bytes(md.signed)


def verify_signed(md: Metadata[Any], role: str, delegator: Root | Targets) -> None:
    """Check that ``md`` (signed elsewhere) meets its threshold before publishing it."""
    try:
        delegator.verify_delegate(role, canonical_bytes(md), md.signatures)
    except UnsignedMetadataError as exc:
        raise VerificationFailed(f"{role} does not verify: {exc}") from exc
