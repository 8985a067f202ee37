"""Metadata drafts awaiting offline signatures, and how far their signing got.

A draft lives in the state store under ``tenant_keys.draft(ref, role)``. A
root draft must meet two thresholds: the trusted root's (old keys) and its
own (new keys); any other draft only its delegator's threshold.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import Key, Signature
from tuf.api.metadata import Metadata, Root, Targets

from tufsync import tenant_keys
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.repository import Repository
from tufsync.tuf.signing import canonical_bytes, role_keys


@dataclass
class Draft:
    role: str
    metadata: dict[str, Any]
    trusted_version: int

    def parsed(self) -> Metadata[Any]:
        return Metadata.from_dict(copy.deepcopy(self.metadata))

    def to_json(self) -> str:
        return json.dumps(
            {"role": self.role, "metadata": self.metadata, "trusted_version": self.trusted_version}
        )

    @classmethod
    def from_json(cls, raw: str) -> Draft:
        data = json.loads(raw)
        return cls(data["role"], data["metadata"], int(data["trusted_version"]))


class DraftStore:
    """Drafts of one repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def key(self, role: str) -> str:
        return tenant_keys.draft(self.repo.ref, role)

    @property
    def lock_name(self) -> str:
        return tenant_keys.signing_lock(self.repo.ref)

    async def get(self, role: str) -> Draft | None:
        raw = await self.repo.state.get(self.key(role))
        return None if raw is None else Draft.from_json(raw)

    async def create(self, draft: Draft) -> bool:
        """Store a new draft; False when one already exists for the role."""
        return await self.repo.state.set_if_absent(self.key(draft.role), draft.to_json())

    async def save(self, draft: Draft) -> None:
        await self.repo.state.set(self.key(draft.role), draft.to_json())

    async def delete(self, role: str) -> None:
        await self.repo.state.delete(self.key(role))

    async def all(self, roles: list[str]) -> dict[str, Draft]:
        keys = {self.key(role): role for role in roles}
        found = await self.repo.state.get_many(list(keys))
        return {keys[k]: Draft.from_json(v) for k, v in found.items()}


@dataclass(frozen=True)
class Requirement:
    """A set of keys of which ``threshold`` must sign: ``role`` as ``delegator`` says."""

    label: str
    keys: dict[str, Key]
    threshold: int
    delegator: Root | Targets | None = None
    role: str = ""


@dataclass(frozen=True)
class SideProgress:
    label: str
    signed: list[str]
    missing: list[str]
    threshold: int
    verified: bool | None = None

    @property
    def counted(self) -> int:
        return min(len(self.signed), self.threshold)

    @property
    def met(self) -> bool:
        """Decided by TUF verification (python-tuf) when known, never by the counts alone."""
        if self.verified is not None:
            return self.verified
        return len(self.signed) >= self.threshold


@dataclass(frozen=True)
class Progress:
    sides: list[SideProgress]

    @property
    def complete(self) -> bool:
        return all(side.met for side in self.sides)

    def message(self, role: str) -> str:
        """Why the draft is not complete, and how far it got, word for word in the
        form of faynoSync's server (``server/tuf/metadata/metadata.go``), whose
        output the dashboard parses: Go-style ``[k1 k2]`` key lists, and each
        key list only when faynoSync's server would print it."""
        unmet = next((s for s in self.sides if not s.met), self.sides[0])
        text = (
            "Invalid signature or threshold not reached: Verifying "
            f"{role} failed, not enough signatures, got {len(unmet.signed)}, "
            f"want {unmet.threshold}"
        )
        collected = sum(s.counted for s in self.sides)
        required = sum(s.threshold for s in self.sides)
        more = required - collected
        if len(self.sides) == 1:
            side = self.sides[0]
            text += (
                f" Progress: {collected}/{required} signatures collected. "
                f"{more} more signature(s) required."
            )
            if side.signed:
                text += f" Signed keys: {go_list(side.signed)}."
            if side.missing:
                text += f" Missing keys: {go_list(side.missing)}."
            return text
        old, new = self.sides
        text += (
            f" Progress: {collected}/{required} signatures collected "
            f"({old.counted} old + {new.counted} new). {more} more required "
            f"({old.threshold - old.counted} old + {new.threshold - new.counted} new)."
        )
        if old.signed:
            text += f" Old keys signed: {go_list(old.signed)}."
        if new.signed:
            text += f" New keys signed: {go_list(new.signed)}."
        if old.missing and not old.met:
            text += f" Missing old keys: {go_list(old.missing)}."
        if new.missing and not new.met:
            text += f" Missing new keys: {go_list(new.missing)}."
        return text


def go_list(items: list[str]) -> str:
    """A list as Go's ``%v`` prints a ``[]string``: ``[a b c]``."""
    return "[" + " ".join(items) + "]"


def requirements_for(
    role: str, md: Metadata[Any], trusted_root: Root, delegator: Root | Targets
) -> list[Requirement]:
    """Who must sign a draft of ``role``."""
    if role == "root":
        new_root: Root = md.signed
        old_keys, old_threshold = role_keys(trusted_root, "root")
        new_keys, new_threshold = role_keys(new_root, "root")
        return [
            Requirement("old", old_keys, old_threshold, trusted_root, "root"),
            Requirement("new", new_keys, new_threshold, new_root, "root"),
        ]
    keys, threshold = role_keys(delegator, role)
    return [Requirement("", keys, threshold, delegator, role)]


def progress_of(md: Metadata[Any], requirements: list[Requirement]) -> Progress:
    payload = canonical_bytes(md)
    sides = []
    for req in requirements:
        signed: list[str] = []
        missing: list[str] = []
        for keyid, key in req.keys.items():
            sig = md.signatures.get(keyid)
            ok = False
            if sig is not None:
                try:
                    key.verify_signature(sig, payload)
                    ok = True
                except (UnverifiedSignatureError, ValueError):
                    ok = False
            (signed if ok else missing).append(keyid)
        verified = None
        if req.delegator is not None:
            result = req.delegator.get_verification_result(req.role, payload, md.signatures)
            verified = result.verified
        sides.append(SideProgress(req.label, signed, missing, req.threshold, verified))
    return Progress(sides)


def check_signatures(md: Metadata[Any], requirements: list[Requirement], where: str) -> None:
    """Every signature on ``md`` must be by an allowed key and verify."""
    payload = canonical_bytes(md)
    allowed: dict[str, Key] = {}
    for req in requirements:
        allowed.update(req.keys)
    for keyid, sig in md.signatures.items():
        key = allowed.get(keyid)
        if key is None:
            raise TufInputError(f"{where}: keyid {keyid} is not authorized to sign this metadata")
        try:
            key.verify_signature(sig, payload)
        except (UnverifiedSignatureError, ValueError) as exc:
            raise TufInputError(f"{where}: the signature by key {keyid} does not verify") from exc


def add_signature(
    md: Metadata[Any], signature: dict[str, Any], requirements: list[Requirement]
) -> None:
    """Verify one caller signature over the draft and add it; raise TufInputError if bad."""
    try:
        sig = Signature.from_dict(copy.deepcopy(signature))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TufInputError("signature must be an object with 'keyid' and 'sig'") from exc
    allowed: dict[str, Key] = {}
    for req in requirements:
        allowed.update(req.keys)
    key = allowed.get(sig.keyid)
    if key is None:
        raise TufInputError(f"keyid {sig.keyid} is not authorized to sign this draft")
    if sig.keyid in md.signatures:
        raise TufInputError(f"keyid {sig.keyid} has already signed this draft")
    try:
        key.verify_signature(sig, canonical_bytes(md))
    except (UnverifiedSignatureError, ValueError) as exc:
        raise TufInputError(f"the signature by key {sig.keyid} does not verify") from exc
    md.signatures[sig.keyid] = sig
