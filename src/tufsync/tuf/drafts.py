"""Metadata drafts awaiting offline signatures, and how far their signing got.

A draft lives in the state store under ``tenant_keys.draft(ref, role)``. A
root draft must meet two thresholds: the trusted root's (old keys) and its
own (new keys); any other draft only its delegator's threshold. Before a
signature that meets them is stored, the repository's finalize marker
(``tenant_keys.finalizing(ref)``) names the task that will publish the draft,
so a crash between the two never loses a met threshold (docs/design.md).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from securesystemslib.signer import Signature
from tuf.api.metadata import Metadata, Root, Signed, Targets, VerificationResult

from tufsync import tenant_keys
from tufsync.tuf.canonical import require_canonical
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.repository import Repository
from tufsync.tuf.signing import canonical_bytes

# A draft is published only while it stays valid this long: a client refreshing
# right after the publish must still accept it (TUF specification §5.3.10, §5.6.5).
PUBLISH_MARGIN = timedelta(minutes=1)
_REMAKE = {
    "root": "post a new root rotation (POST /tuf/v1/metadata), which replaces it",
    "": "stage the rotation again (POST /tuf/v1/metadata/delegated/rotate), which replaces it",
}


class DraftExpired(TufInputError):
    """A draft expired (or expires within :data:`PUBLISH_MARGIN`); never published."""


def expiry_problem(role: str, signed: Signed, now: datetime) -> str | None:
    """Why the draft of ``role`` can no longer be published (it expired, or expires
    within :data:`PUBLISH_MARGIN`), or None."""
    if not signed.is_expired(now + PUBLISH_MARGIN):
        return None
    when = signed.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    state = (
        f"expired at {when}" if signed.is_expired(now) else f"expires at {when}, within a minute,"
    )
    return (
        f"The {role} draft (version {signed.version}) {state} and is not published: no TUF "
        f"client would accept it. Make it again: {_REMAKE.get(role, _REMAKE[''])}, or cancel "
        "it (POST /tuf/v1/metadata/sign/delete)."
    )


def refuse_expired(role: str, signed: Signed, now: datetime) -> None:
    """Raise :class:`DraftExpired` with :func:`expiry_problem`'s sentence, if any."""
    problem = expiry_problem(role, signed, now)
    if problem is not None:
        raise DraftExpired(problem)


# What made a draft: a key rotation (root or delegated, staged by its request) or a
# release (artifacts published into or removed from a role the server cannot sign,
# or the renewal of such a role before it expires).
ROTATION = "rotation"
RELEASE = "release"
# Not a kind of its own: how status and the signing queue name a renewal release draft.
RENEWAL = "renewal"


@dataclass
class Draft:
    role: str
    metadata: dict[str, Any]
    trusted_version: int
    kind: str = ROTATION
    # What a key holder should know before signing (e.g. signatures dropped because
    # the draft's content changed since they were made).
    note: str = ""
    # A release draft prepared only to renew its role before it expires: the trusted
    # content with version + 1 and a new expiry (docs/api.md §5.6).
    renewal: bool = False

    @property
    def purpose(self) -> str:
        """``rotation``, ``release`` or ``renewal`` (a release listing the trusted content)."""
        return RENEWAL if self.kind == RELEASE and self.renewal else self.kind

    def parsed(self) -> Metadata[Any]:
        return Metadata.from_dict(copy.deepcopy(self.metadata))

    def expiry_problem(self, now: datetime) -> str | None:
        return expiry_problem(self.role, self.parsed().signed, now)

    def to_json(self) -> str:
        return json.dumps(
            {
                "role": self.role,
                "metadata": self.metadata,
                "trusted_version": self.trusted_version,
                "kind": self.kind,
                "note": self.note,
                "renewal": self.renewal,
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> Draft:
        data = json.loads(raw)
        return cls(
            data["role"],
            data["metadata"],
            int(data["trusted_version"]),
            str(data.get("kind", ROTATION)),
            str(data.get("note", "")),
            bool(data.get("renewal", False)),
        )


@dataclass(frozen=True)
class Finalizing:
    """The finalize marker: ``task_id`` publishes the draft(s) of ``role``."""

    task_id: str
    role: str

    def to_json(self) -> str:
        return json.dumps({"task_id": self.task_id, "role": self.role})

    @classmethod
    def from_json(cls, raw: str) -> Finalizing | None:
        """The marker stored as ``raw``; None when it is not one."""
        try:
            data = json.loads(raw)
            task_id, role = data["task_id"], data["role"]
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(task_id, str) or not isinstance(role, str) or not task_id:
            return None
        return cls(task_id, role)


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

    async def get_raw(self, role: str) -> str | None:
        """The stored draft of ``role`` as stored (parse it off the event loop)."""
        return await self.repo.state.get(self.key(role))

    async def save_raw(self, role: str, raw: str) -> None:
        """Store ``raw``, a :meth:`Draft.to_json` of ``role``'s draft."""
        await self.repo.state.set(self.key(role), raw)

    async def create(self, draft: Draft) -> bool:
        """Store a new draft; False when one already exists for the role."""
        return await self.repo.state.set_if_absent(self.key(draft.role), draft.to_json())

    async def save(self, draft: Draft) -> None:
        await self.repo.state.set(self.key(draft.role), draft.to_json())

    async def delete(self, role: str) -> None:
        await self.repo.state.delete(self.key(role))

    @property
    def finalizing_key(self) -> str:
        return tenant_keys.finalizing(self.repo.ref)

    async def mark_finalizing(self, marker: Finalizing) -> None:
        """Name the task that publishes a draft whose threshold is being met."""
        await self.repo.state.set(self.finalizing_key, marker.to_json())

    async def finalizing(self) -> tuple[str, Finalizing | None] | None:
        """The stored marker (its raw text and its reading), None when there is none."""
        raw = await self.repo.state.get(self.finalizing_key)
        return None if raw is None else (raw, Finalizing.from_json(raw))

    async def unmark_finalizing(self, task_id: str) -> None:
        """Remove the marker if it still names ``task_id`` (a later signature may have
        named another task meanwhile)."""
        found = await self.finalizing()
        if found is not None and (found[1] is None or found[1].task_id == task_id):
            await self.repo.state.delete_if_equals(self.finalizing_key, found[0])

    async def all(self, roles: list[str]) -> dict[str, Draft]:
        keys = {self.key(role): role for role in roles}
        found = await self.repo.state.get_many(list(keys))
        return {keys[k]: Draft.from_json(v) for k, v in found.items()}


@dataclass(frozen=True)
class Requirement:
    """Who must sign: the keys ``delegator`` names for ``role``, its threshold. Whether
    they did is python-tuf's verification result (:meth:`result`)."""

    label: str
    delegator: Root | Targets
    role: str

    def result(self, payload: bytes, signatures: dict[str, Signature]) -> VerificationResult:
        return self.delegator.get_verification_result(self.role, payload, signatures)


@dataclass(frozen=True)
class SideProgress:
    """One threshold as the progress sentence reports it: the keyids of
    python-tuf's ``VerificationResult.signed`` and ``.unsigned``, and its threshold."""

    label: str
    signed: list[str]
    missing: list[str]
    threshold: int

    @classmethod
    def of(cls, label: str, result: VerificationResult) -> SideProgress:
        return cls(label, list(result.signed), list(result.unsigned), result.threshold)

    @property
    def verified(self) -> bool:
        """``VerificationResult.verified``: the threshold is met."""
        return len(self.signed) >= self.threshold

    @property
    def still_needed(self) -> int:
        """``VerificationResult.missing``: signatures still needed for the threshold."""
        return max(0, self.threshold - len(self.signed))

    @property
    def counted(self) -> int:
        return self.threshold - self.still_needed


@dataclass(frozen=True)
class Progress:
    sides: list[SideProgress]

    @property
    def complete(self) -> bool:
        return all(side.verified for side in self.sides)

    def message(self, role: str) -> str:
        """Why the draft is not complete, and how far it got, word for word in the
        form of faynoSync's server (``server/tuf/metadata/metadata.go``), whose
        output the dashboard parses: Go-style ``[k1 k2]`` key lists, and each
        key list only when faynoSync's server would print it."""
        unmet = next((s for s in self.sides if not s.verified), self.sides[0])
        text = (
            "Invalid signature or threshold not reached: Verifying "
            f"{role} failed, not enough signatures, got {len(unmet.signed)}, "
            f"want {unmet.threshold} Progress: "
        )
        if len(self.sides) == 1:
            return text + _single_progress(self.sides[0])
        old, new = self.sides
        return text + _rotation_progress(old, new)


def _single_progress(side: SideProgress) -> str:
    """faynoSync's single-threshold form."""
    text = (
        f"{side.counted}/{side.threshold} signatures collected. "
        f"{side.still_needed} more signature(s) required."
    )
    return text + _keys(" Signed keys", side.signed) + _keys(" Missing keys", side.missing)


def _rotation_progress(old: SideProgress, new: SideProgress) -> str:
    """faynoSync's root rotation form: old and new keys; missing keys of a side
    only while that side's threshold is not met."""
    text = (
        f"{old.counted + new.counted}/{old.threshold + new.threshold} signatures collected "
        f"({old.counted} old + {new.counted} new). {old.still_needed + new.still_needed} more "
        f"required ({old.still_needed} old + {new.still_needed} new)."
    )
    text += _keys(" Old keys signed", old.signed) + _keys(" New keys signed", new.signed)
    if not old.verified:
        text += _keys(" Missing old keys", old.missing)
    if not new.verified:
        text += _keys(" Missing new keys", new.missing)
    return text


def _keys(label: str, keyids: list[str]) -> str:
    """`` <label>: [k1 k2].``, or nothing when there are no keys."""
    return f"{label}: {go_list(keyids)}." if keyids else ""


def go_list(items: list[str]) -> str:
    """A list as Go's ``%v`` prints a ``[]string``: ``[a b c]``."""
    return "[" + " ".join(items) + "]"


def requirements_for(
    role: str, md: Metadata[Any], trusted_root: Root, delegator: Root | Targets
) -> list[Requirement]:
    """Who must sign a draft of ``role``: for root, the trusted root's threshold
    (old keys) and the draft's own (new keys), TUF specification §5.3.4."""
    if role == "root":
        return [
            Requirement("old", trusted_root, "root"),
            Requirement("new", md.signed, "root"),
        ]
    return [Requirement("", delegator, role)]


def verification_results(
    md: Metadata[Any], requirements: list[Requirement], signatures: dict[str, Signature]
) -> list[VerificationResult]:
    """python-tuf's verification of ``signatures`` over ``md``'s canonical bytes,
    one result per requirement (a root draft's old and new sides from
    ``Root.get_root_verification_result``)."""
    payload = canonical_bytes(md)
    if len(requirements) == 2:
        old, new = (req.delegator for req in requirements)
        if isinstance(old, Root) and isinstance(new, Root):
            both = new.get_root_verification_result(old, payload, signatures)
            return [both.first, both.second]
    return [req.result(payload, signatures) for req in requirements]


def progress_of(md: Metadata[Any], requirements: list[Requirement]) -> Progress:
    results = verification_results(md, requirements, md.signatures)
    return Progress(
        [SideProgress.of(r.label, res) for r, res in zip(requirements, results, strict=True)]
    )


def _authorized(keyid: str, results: list[VerificationResult]) -> bool:
    """``keyid`` is one of the keys the results were decided over."""
    return any(keyid in r.signed or keyid in r.unsigned for r in results)


def _verified(keyid: str, results: list[VerificationResult]) -> bool:
    return any(keyid in r.signed for r in results)


def check_signatures(md: Metadata[Any], requirements: list[Requirement], where: str) -> None:
    """Every signature on ``md`` must be by an allowed key and verify (as python-tuf's
    verification results say)."""
    results = verification_results(md, requirements, md.signatures)
    for keyid in md.signatures:
        if not _authorized(keyid, results):
            raise TufInputError(f"{where}: keyid {keyid} is not authorized to sign this metadata")
        if not _verified(keyid, results):
            raise TufInputError(f"{where}: the signature by key {keyid} does not verify")


def add_signature(
    md: Metadata[Any], signature: dict[str, Any], requirements: list[Requirement]
) -> None:
    """Verify one caller signature over the draft and add it; raise TufInputError if bad."""
    require_canonical(signature, "signature")
    try:
        sig = Signature.from_dict(copy.deepcopy(signature))
        hash(sig.keyid)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TufInputError("signature must be an object with 'keyid' and 'sig'") from exc
    results = verification_results(md, requirements, {sig.keyid: sig})
    if not _authorized(sig.keyid, results):
        raise TufInputError(f"keyid {sig.keyid} is not authorized to sign this draft")
    if sig.keyid in md.signatures:
        raise TufInputError(f"keyid {sig.keyid} has already signed this draft")
    if not _verified(sig.keyid, results):
        raise TufInputError(f"the signature by key {sig.keyid} does not verify")
    md.signatures[sig.keyid] = sig
