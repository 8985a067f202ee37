"""A change to a repository's online metadata, committed in the safe order.

Open the targets-type roles you want to change, edit them, then ``commit()``:
every changed role gets version + 1, a fresh expiry and new signatures, then
snapshot, then timestamp. Each file is verified against its delegator before
anything is written; role files are written first, snapshot next and
``timestamp.json`` last, after checking that the repository lock is still
held, so clients only ever see a consistent repository.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp

from tufsync import testhooks
from tufsync.state.locks import HeldLock
from tufsync.tuf.clock import expiry_after
from tufsync.tuf.config import RepoConfig
from tufsync.tuf.errors import OnlineKeyUnavailable, TufInputError
from tufsync.tuf.keys import TenantSigner
from tufsync.tuf.metastore import to_bytes, versioned_name
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.signing import online_signers, sign_and_verify, verify_signed
from tufsync.writes import write_section


@dataclass
class CommitResult:
    versions: dict[str, int] = field(default_factory=dict)


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

    @classmethod
    async def begin(cls, repo: Repository, lock: HeldLock) -> MetadataChange:
        config = await repo.require_config()
        trusted = await repo.trusted()
        return cls(repo, trusted, config, lock)

    def delegator_of(self, role: str) -> Root | Targets:
        if role in ("targets", "snapshot", "timestamp", "root"):
            return (self.next_root or self.trusted.root).signed
        new_targets = self.presigned.get("targets") or self.opened.get("targets")
        return (new_targets or self.trusted.targets).signed

    async def open(self, role: str) -> Metadata[Targets]:
        """Open ``targets`` or a delegated role for editing (taken out of the cache)."""
        if role in self.opened:
            return self.opened[role]
        if role == "targets" and not self.config.targets_online_key:
            raise OnlineKeyUnavailable(
                "targets is signed offline; the server cannot change targets metadata"
            )
        meta = self.trusted.snapshot.signed.meta.get(f"{role}.json")
        if meta is None:
            raise TufInputError(f"role {role!r} is not delegated in this repository")
        md = await self.repo.files.targets_role(role, meta.version, take=True)
        if md is None:
            raise TufInputError(f"metadata of role {role!r} is missing from the store")
        if role == "targets":
            # Delegated roles look up their keys in the targets object we hold.
            self.trusted.targets = md
        self.opened[role] = md
        return md

    async def current_role(self, role: str) -> Metadata[Targets] | None:
        """The version of ``role`` this change would publish now: opened, else the
        trusted one (nothing is opened); None when the role is not published."""
        if role in self.opened:
            return self.opened[role]
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
        signers = online_signers(
            repo.engine.keys, repo.admin, repo.app, self.delegator_of(role), role
        )
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
        or ``force_snapshot``), then timestamp. Also records the new expiries.

        The signing runs in a worker thread (docs/design.md invariant 8): a change touching
        thousands of hash bins, or a snapshot listing them, never stalls the API."""
        result = CommitResult()
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
        return result

    def _offline_roles(self) -> frozenset[str]:
        """Delegated roles signed elsewhere whose threshold the server's online keys
        cannot meet: they are not refreshed, only watched for expiry."""
        repo = self.repo
        offline = set()
        for role in self.presigned:
            if role == "targets":
                continue
            try:
                online_signers(
                    repo.engine.keys, repo.admin, repo.app, self.delegator_of(role), role
                )
            except OnlineKeyUnavailable:
                offline.add(role)
        return frozenset(offline)
