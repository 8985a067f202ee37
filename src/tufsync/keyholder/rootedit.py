"""Offline edits of root metadata for a rotation, and a key holder's signature over a draft."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.formats import encode_canonical
from securesystemslib.signer import Key, Signer
from tuf.api.metadata import Metadata, Root


def next_root_version(
    trusted: dict[str, Any],
    *,
    add_root_keys: Sequence[Key] = (),
    remove_root_keys: Sequence[str] = (),
    threshold: int | None = None,
    new_online_key: Key | None = None,
    expires_days: int | None = None,
) -> Metadata[Root]:
    """Root version + 1 with the requested changes and no signatures."""
    md: Metadata[Root] = Metadata.from_dict(copy.deepcopy(trusted))
    root = md.signed
    root.version += 1
    md.signatures.clear()
    for keyid in remove_root_keys:
        root.revoke_key(keyid, "root")
    for key in add_root_keys:
        root.add_key(key, "root")
    if threshold is not None:
        root.roles["root"].threshold = threshold
    if new_online_key is not None:
        for role in ("timestamp", "snapshot", "targets"):
            for keyid in list(root.roles[role].keyids):
                root.revoke_key(keyid, role)
            root.add_key(new_online_key, role)
    if expires_days is not None:
        root.expires = (datetime.now(UTC) + timedelta(days=expires_days)).replace(microsecond=0)
    return md


def signature_over(signer: Signer, metadata: dict[str, Any]) -> dict[str, Any]:
    """One signature over the canonical ``signed`` bytes of a draft, as the API expects."""
    payload = str(encode_canonical(metadata["signed"])).encode()
    return dict(signer.sign(payload).to_dict())
