"""A change to a repository's online metadata, committed in the safe order.

Open the targets-type roles you want to change, edit them, then ``commit()``:
every changed role gets version + 1, a fresh expiry and new signatures, then
snapshot, then timestamp. A role whose threshold the server's online keys
cannot meet (targets signed offline, a delegated role with offline keys) is
opened as a **draft** instead: its next version (joining a pending release
draft of the role) is stored for its key holders (:mod:`tufsync.tuf.drafts`)
and published by the signing flow once their threshold is met, never before.
Each file is verified against its delegator before anything is written; role
files are written first, snapshot next and ``timestamp.json`` last, after
checking that the repository lock is still held, so clients only ever see a
consistent repository.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any, cast

from securesystemslib.signer import Signer
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp

from tufsync import testhooks
from tufsync.state.locks import HeldLock, hold_lock
from tufsync.tuf.clock import expiry_after
from tufsync.tuf.config import RepoConfig
from tufsync.tuf.drafts import RELEASE, Draft, DraftStore
from tufsync.tuf.errors import OnlineKeyUnavailable, TufInputError
from tufsync.tuf.keys import TenantSigner
from tufsync.tuf.metastore import to_bytes, versioned_name
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.signing import (
    canonical_bytes,
    online_signers,
    role_keys,
    sign_and_verify,
    verify_signed,
)
from tufsync.writes import write_section


@dataclass
class CommitResult:
    versions: dict[str, int] = field(default_factory=dict)
    # Roles staged as drafts for their key holders: role -> draft version.
    staged: dict[str, int] = field(default_factory=dict)


class RotationPending(TufInputError):
    """A key rotation awaits signatures for a role this change would draft."""


@dataclass
class _DraftBase:
    """What an opened draft started from: the stored draft (None: the trusted version)
    as parsed and as stored (``raw``, to tell whether it changed meanwhile), and its
    canonical ``signed`` bytes, to tell whether this change altered it."""

    stored: Draft | None
    raw: str | None
    payload: bytes
    trusted_version: int


def _parse_drafts(raws: dict[str, str | None]) -> dict[str, Draft]:
    return {role: Draft.from_json(raw) for role, raw in raws.items() if raw is not None}


def _draft_and_payload(draft: Draft) -> tuple[Metadata[Targets], bytes]:
    md: Metadata[Targets] = draft.parsed()
    return md, canonical_bytes(md)


def _same_base(found: str | None, base: _DraftBase) -> bool:
    """True when the draft stored now (``found``) is not the one the change opened
    from (``base`` was the trusted version: a draft of the same trusted version
    appeared meanwhile)."""
    if found is None:
        return False
    draft = Draft.from_json(found)
    return draft.trusted_version == base.trusted_version


class MetadataChange:
    def __init__(
        self,
        repo: Repository,
        trusted: Trusted,
        config: RepoConfig,
        lock: HeldLock,
        next_root: Metadata[Root] | None = None,
    ) -> None:
        self.repo = repo
        self.trusted = trusted
        self.config = config
        self.lock = lock
        self.opened: dict[str, Metadata[Targets]] = {}
        self.force_snapshot = False
        # With a root rotation, top-level roles are signed for the new root and,
        # when the old online keys are still at hand, for the old one too ("bridged"),
        # so clients on either side of the rotation verify every file.
        self.next_root = next_root
        self.bridged = True
        # Roles whose new version arrives already signed (offline signing flow).
        self.presigned: dict[str, Metadata[Targets]] = {}
        # Roles the server cannot sign, opened as drafts for their key holders.
        self.staged: dict[str, Metadata[Targets]] = {}
        self._draft_bases: dict[str, _DraftBase] = {}
        self._signable: dict[tuple[str, tuple[str, ...]], bool] = {}
        self._loaded: dict[tuple[str, tuple[str, ...]], list[TenantSigner]] = {}
        # Release drafts published by this change (their roles can be signed online now).
        self.absorbed: set[str] = set()
        # Drafts opened only to renew their role before it expires (docs/api.md §5.6),
        # and what a key holder should read first about a draft this change alters.
        self.renewals: set[str] = set()
        self.notes: dict[str, str] = {}

    @classmethod
    async def begin(cls, repo: Repository, lock: HeldLock) -> MetadataChange:
        config = await repo.require_config()
        trusted = await repo.trusted()
        return cls(repo, trusted, config, lock)

    def delegator_of(self, role: str) -> Root | Targets:
        if role in ("targets", "snapshot", "timestamp", "root"):
            return (self.next_root or self.trusted.root).signed
        new_targets = (
            self.presigned.get("targets")
            or self.opened.get("targets")
            or self.staged.get("targets")
        )
        return (new_targets or self.trusted.targets).signed

    def can_sign(self, role: str) -> bool:
        """Whether the server's online keys meet ``role``'s threshold, decided from the
        keys it holds now (not from a flag): targets by the repository's settings,
        a delegated role by loading its online signers."""
        if role == "targets":
            return self.config.targets_online_key
        keyids = self._keyids(role)
        if (role, keyids) not in self._signable:
            try:
                self._online_signers(role)
                self._signable[(role, keyids)] = True
            except OnlineKeyUnavailable:
                self._signable[(role, keyids)] = False
        return self._signable[(role, keyids)]

    def _keyids(self, role: str) -> tuple[str, ...]:
        """The keyids ``role``'s current delegator names for it (a rotation in this
        change may give the role other keys)."""
        return tuple(sorted(self.delegator_of(role).get_delegated_role(role).keyids))

    def _online_signers(self, role: str) -> list[TenantSigner]:
        """``online_signers`` of ``role`` under its current delegator, loaded once per
        change for each set of keyids (deciding whether the server can sign a role and
        signing it use the same signers)."""
        keyids = self._keyids(role)
        cached = self._loaded.get((role, keyids))
        if cached is None:
            repo = self.repo
            delegator = self.delegator_of(role)
            cached = online_signers(repo.engine.keys, repo.admin, repo.app, delegator, role)
            self._loaded[(role, keyids)] = cached
        return list(cached)

    async def open(self, role: str, *, as_draft: bool = False) -> Metadata[Targets]:
        """Open ``targets`` or a delegated role for editing (taken out of the cache); a
        role the server cannot sign (or ``as_draft``) is opened as a draft."""
        if role in self.opened:
            return self.opened[role]
        if role in self.staged:
            return self.staged[role]
        if as_draft or not self.can_sign(role):
            return await self._open_draft(role)
        meta = self.trusted.snapshot.signed.meta.get(f"{role}.json")
        if meta is None:
            raise TufInputError(f"role {role!r} is not delegated in this repository")
        md = await self.repo.files.targets_role(role, meta.version, take=True)
        if md is None:
            raise TufInputError(f"metadata of role {role!r} is missing from the store")
        md = await self._absorb_release_draft(role, md)
        if role == "targets":
            # Delegated roles look up their keys in the targets object we hold.
            self.trusted.targets = md
        self.opened[role] = md
        return md

    async def _absorb_release_draft(
        self, role: str, trusted: Metadata[Targets]
    ) -> Metadata[Targets]:
        """The content to publish for a role the server can sign (again): a release
        draft staged while it could not (its keys were offline) is published with this
        change, so nothing it lists is lost; the draft goes at commit."""
        if self.config.is_bin(role):  # hash bins share the online targets keys
            return trusted
        raw = await DraftStore(self.repo).get_raw(role)
        if raw is None:
            return trusted
        pending = await asyncio.to_thread(Draft.from_json, raw)
        if pending.kind != RELEASE or pending.trusted_version != trusted.signed.version:
            return trusted
        md: Metadata[Targets] = await asyncio.to_thread(pending.parsed)
        md.signatures.clear()
        md.signed.version = trusted.signed.version
        self.absorbed.add(role)
        return md

    def trusted_version(self, role: str) -> int | None:
        if role == "targets":
            return self.trusted.targets.signed.version
        meta = self.trusted.snapshot.signed.meta.get(f"{role}.json")
        return None if meta is None else meta.version

    async def _open_draft(self, role: str) -> Metadata[Targets]:
        """Open the next version of ``role`` for its key holders: the pending release
        draft of the role, or the trusted version with version + 1 and no signatures.
        A pending key rotation of the role (or of targets) must be signed or
        cancelled first: its keys are not the ones this change would be signed by."""
        trusted_version = self.trusted_version(role)
        if trusted_version is None:
            raise TufInputError(f"role {role!r} is not delegated in this repository")
        store = DraftStore(self.repo)
        raws = {name: await store.get_raw(name) for name in dict.fromkeys(("targets", role))}
        # Parsing and canonicalising a draft of thousands of targets is CPU work: in a
        # worker thread (docs/design.md invariant 8).
        drafts = await asyncio.to_thread(_parse_drafts, raws)
        for blocking, pending in drafts.items():
            if pending.kind != RELEASE:
                raise RotationPending(
                    f"a key rotation of role {blocking!r} awaits signatures; sign it or cancel "
                    "it (POST /tuf/v1/metadata/sign, POST /tuf/v1/metadata/sign/delete) "
                    f"before changing role {role!r}"
                )
        stored = drafts.get(role)
        if stored is not None and stored.trusted_version == trusted_version:
            md, payload = await asyncio.to_thread(_draft_and_payload, stored)
            raw = raws[role]
        else:
            stored, raw = None, None
            current = await self.current_role(role)
            if current is None:
                raise TufInputError(f"metadata of role {role!r} is missing from the store")
            md, payload = await asyncio.to_thread(self._next_version, current, role)
        self._draft_bases[role] = _DraftBase(stored, raw, payload, trusted_version)
        self.staged[role] = md
        return md

    def _next_version(
        self, current: Metadata[Targets], role: str
    ) -> tuple[Metadata[Targets], bytes]:
        """A copy of ``current`` with version + 1, a fresh expiry and no signatures,
        and its canonical ``signed`` bytes."""
        md: Metadata[Targets] = Metadata.from_dict(copy.deepcopy(current.to_dict()))
        md.signatures.clear()
        self._bump(md, role)
        return md, canonical_bytes(md)

    async def current_role(self, role: str) -> Metadata[Targets] | None:
        """The version of ``role`` this change would publish now: opened, else the
        trusted one (nothing is opened); None when the role is not published. For a
        role opened as a draft, the draft."""
        if role in self.opened:
            return self.opened[role]
        if role in self.staged:
            return self.staged[role]
        if not self.can_sign(role):
            raw = await DraftStore(self.repo).get_raw(role)
            pending = None if raw is None else await asyncio.to_thread(Draft.from_json, raw)
            if (
                pending is not None
                and pending.kind == RELEASE
                and pending.trusted_version == self.trusted_version(role)
            ):
                parsed: Metadata[Targets] = await asyncio.to_thread(pending.parsed)
                return parsed
        if role == "targets":
            return self.trusted.targets
        meta = self.trusted.snapshot.signed.meta.get(f"{role}.json")
        if meta is None:
            return None
        return await self.repo.files.targets_role(role, meta.version)

    def _bump(self, md: Metadata[Any], role: str) -> None:
        now = self.repo.engine.clock()
        md.signed.version += 1
        md.signed.expires = expiry_after(now, self.config.expiration_days(role))

    def _signers(self, role: str) -> list[TenantSigner]:
        """Online signers of ``role``; during a root rotation also those of the old root."""
        repo = self.repo
        signers = self._online_signers(role)
        if self.next_root is not None and role in ("targets", "snapshot", "timestamp"):
            try:
                old = online_signers(
                    repo.engine.keys, repo.admin, repo.app, self.trusted.root.signed, role
                )
            except OnlineKeyUnavailable:
                self.bridged = False
                return signers
            known = {s.public_key.keyid for s in signers}
            signers += [s for s in old if s.public_key.keyid not in known]
        return signers

    async def _publish(
        self, ordered: list[tuple[str, Metadata[Any], bytes]], timestamp_data: bytes
    ) -> None:
        """Write role files, snapshot, (root,) then ``timestamp.json`` last.

        Runs as one write section: once started it is never cut off, so a
        ``timestamp.json`` can never land after its snapshot was cleaned up.
        """
        files = self.repo.files
        written: list[str] = []
        published = False
        try:
            for name, _md, data in ordered:
                await files.storage.put(files.key(name), data)
                written.append(files.key(name))
                await testhooks.pause("writing")
            await self.lock.ensure_held()
            root_file = None
            if self.next_root is not None:
                root_file = files.key(versioned_name("root", self.next_root.signed.version))
            if root_file and not self.bridged:
                await files.storage.put(root_file, to_bytes(self.next_root))  # type: ignore[arg-type]
            await files.storage.put(files.key("timestamp.json"), timestamp_data)
            published = True
            if root_file and self.bridged:
                await files.storage.put(root_file, to_bytes(self.next_root))  # type: ignore[arg-type]
        except BaseException:
            # Files no timestamp points to are invisible to clients; remove them anyway.
            if not published:
                for key in written:
                    await files.storage.delete(key)
            raise

    def _sign(
        self, snapshot: Metadata[Snapshot] | None, result: CommitResult
    ) -> tuple[
        list[tuple[str, Metadata[Any], bytes]],
        tuple[str, Metadata[Any], bytes] | None,
        Metadata[Timestamp],
        bytes,
    ]:
        """Bump, sign and serialise every changed role, the snapshot (when given) and
        the timestamp. Pure CPU work, run in a worker thread by :meth:`commit`."""
        role_files: list[tuple[str, Metadata[Any], bytes]] = []
        # Delegated roles before targets: their signers are looked up in targets'
        # delegations, which a key change in targets would only affect later.
        for role in sorted(self.opened, key=lambda r: r == "targets"):
            md = self.opened[role]
            self._bump(md, role)
            data = sign_and_verify(md, role, self._signers(role), self.delegator_of(role))
            role_files.append((versioned_name(role, md.signed.version), md, data))
            result.versions[role] = md.signed.version

        for role, md in self.presigned.items():
            verify_signed(md, role, self.delegator_of(role))
            role_files.append((versioned_name(role, md.signed.version), md, to_bytes(md)))
            result.versions[role] = md.signed.version

        snapshot_file: tuple[str, Metadata[Any], bytes] | None = None
        if snapshot is not None:
            for role, md in {**self.opened, **self.presigned}.items():
                snapshot.signed.meta[f"{role}.json"] = MetaFile(version=md.signed.version)
            self._bump(snapshot, "snapshot")
            data = sign_and_verify(
                snapshot, "snapshot", self._signers("snapshot"), self.delegator_of("snapshot")
            )
            snapshot_file = (versioned_name("snapshot", snapshot.signed.version), snapshot, data)
            result.versions["snapshot"] = snapshot.signed.version
            self.trusted.snapshot = snapshot

        timestamp = self.trusted.timestamp
        timestamp.signed.snapshot_meta = MetaFile(version=self.trusted.snapshot.signed.version)
        self._bump(timestamp, "timestamp")
        timestamp_data = sign_and_verify(
            timestamp, "timestamp", self._signers("timestamp"), self.delegator_of("timestamp")
        )
        result.versions["timestamp"] = timestamp.signed.version
        return role_files, snapshot_file, timestamp, timestamp_data

    async def commit(self) -> CommitResult:
        """Sign and publish: opened roles, then snapshot (if anything below it changed
        or ``force_snapshot``), then timestamp. Also records the new expiries. Roles
        opened as drafts are stored for their key holders after that.

        The signing runs in a worker thread (docs/design.md invariant 8): a change touching
        thousands of hash bins, or a snapshot listing them, never stalls the API."""
        result = CommitResult()
        if self.opened or self.presigned or self.force_snapshot or not self.staged:
            await self._commit_online(result)
        if self.staged:
            self._require_online_top_level()
            result.staged = await self._store_drafts()
        if self.absorbed:
            store = DraftStore(self.repo)
            async with hold_lock(self.repo.state, store.lock_name, ttl=30, wait=30):
                for role in self.absorbed:
                    await store.delete(role)
        return result

    def _require_online_top_level(self) -> None:
        """Raise :class:`OnlineKeyUnavailable` unless the server can sign snapshot and
        timestamp: without them no draft could ever be published, and a role whose
        keys vanished with them is a key outage to report, not a role gone offline."""
        for role in ("snapshot", "timestamp"):
            self._online_signers(role)

    async def _store_drafts(self) -> dict[str, int]:
        """Store each role opened as a draft (under the drafts lock, so no signature
        posted meanwhile is lost). A draft whose content this change altered loses the
        signatures made over its old bytes (its note says whose) and gets those of
        the role's keys the server holds online; an unaltered one is left as stored."""
        store = DraftStore(self.repo)
        staged: dict[str, int] = {}
        async with hold_lock(self.repo.state, store.lock_name, ttl=30, wait=30):
            for role, md in self.staged.items():
                base = self._draft_bases[role]
                found = await store.get_raw(role)
                if found != base.raw and (
                    base.raw is not None or await asyncio.to_thread(_same_base, found, base)
                ):
                    raise TufInputError(
                        f"the draft of role {role!r} changed while this change was made; "
                        "nothing was staged: try again"
                    )
                staged[role] = md.signed.version
                raw = await asyncio.to_thread(self._draft_to_store, role, md, base)
                if raw is not None:
                    await store.save_raw(role, raw)
        return staged

    def _draft_to_store(self, role: str, md: Metadata[Targets], base: _DraftBase) -> str | None:
        """The draft of ``role`` to store, serialised, or None when this change left a
        stored draft as it was. A fresh draft is always stored, even when only its
        version and expiry moved (a renewal). Pure CPU work, run in a worker thread."""
        stored = base.stored
        if stored is not None and canonical_bytes(md) == base.payload:
            return None
        dropped = sorted(md.signatures)
        md.signatures.clear()
        if stored is not None:
            md.signed.expires = expiry_after(
                self.repo.engine.clock(), self.config.expiration_days(role)
            )
        self._sign_online_share(md, role)
        dropped = [k for k in dropped if k not in md.signatures]
        notes = [self.notes[role]] if role in self.notes else []
        if dropped:
            notes.append(
                f"The {role} draft changed (version {md.signed.version}); the signatures "
                f"by {dropped} were over its old content and were dropped: sign it again."
            )
        # A renewal draft stays one until a release changes what it lists.
        renewal = role in self.renewals or (
            stored is not None and stored.renewal and role in self.notes
        )
        draft = Draft(
            role, md.to_dict(), base.trusted_version, RELEASE, " ".join(notes), renewal=renewal
        )
        return draft.to_json()

    def _sign_online_share(self, md: Metadata[Targets], role: str) -> None:
        """Sign ``md`` with each of ``role``'s keys the server holds online (fewer than
        its threshold, else the role would not be a draft): the holders sign the rest."""
        repo = self.repo
        keys, _threshold = role_keys(self.delegator_of(role), role)
        for key in keys.values():
            signer = repo.engine.keys.load_signer(repo.admin, repo.app, key)
            if signer is not None:
                md.sign(cast(Signer, signer), append=True)

    async def _commit_online(self, result: CommitResult) -> None:
        files = self.repo.files
        old_snapshot: Metadata[Snapshot] | None = None
        if self.opened or self.presigned or self.force_snapshot:
            old_snapshot = await files.snapshot(self.trusted.snapshot.signed.version, take=True)
            if old_snapshot is None:
                raise TufInputError("snapshot metadata is missing from the store")
        role_files, snapshot_file, timestamp, timestamp_data = await asyncio.to_thread(
            self._sign, old_snapshot, result
        )

        ordered = role_files + ([snapshot_file] if snapshot_file else [])
        await write_section(self._publish(ordered, timestamp_data))
        for name, md, _data in ordered:
            files.remember(name, md)
        changed = {**self.opened, **self.presigned}
        expiries = {role: md.signed.expires for role, md in changed.items()}
        expiries["timestamp"] = timestamp.signed.expires
        if snapshot_file:
            expiries["snapshot"] = snapshot_file[1].signed.expires
        # Root and targets as trusted now (also fills schedules written before offline
        # roles were watched, at the next refresh).
        expiries["root"] = (self.next_root or self.trusted.root).signed.expires
        expiries.setdefault("targets", self.trusted.targets.signed.expires)
        await self.repo.record_expiries(expiries, self.config, self._offline_roles())

    def _offline_roles(self) -> frozenset[str]:
        """Delegated roles signed elsewhere whose threshold the server's online keys
        cannot meet: they are not refreshed, only watched for expiry."""
        return frozenset(r for r in self.presigned if r != "targets" and not self.can_sign(r))
