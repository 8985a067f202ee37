"""The registry side of offline-signed releases: which artifacts a role's key holders
must still sign, and what changes in the registry once they did.

A publish into a role the server cannot sign marks its rows *awaiting* that role
(``tuf_awaiting``); they are neither signed nor unsigned. When the draft is
published its rows become signed; when a draft is cancelled, replaced or dropped
its rows become unsigned again. A removal staged in a draft leaves the path
published, its file kept, until the draft is published; then files whose
registry row is gone are deleted (docs/design.md, invariant "registry, files and
TUF metadata agree").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tufsync import tenant_keys
from tufsync.db import queries
from tufsync.registry.service import delete_file_unless_owned
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import TaskContext
from tufsync.tuf.drafts import RELEASE, Draft, DraftStore
from tufsync.tuf.listing import listed_entries
from tufsync.tuf.repository import Repository


@dataclass
class MarksReport:
    signed: list[str] = field(default_factory=list)
    unsigned: list[str] = field(default_factory=list)


async def removed_by(repo: Repository, drafts: list[Draft]) -> list[str]:
    """The paths the release ``drafts`` remove from their roles' trusted versions."""
    trusted = await repo.trusted()
    removed: set[str] = set()
    for draft in drafts:
        if draft.kind != RELEASE:
            continue
        current = (
            trusted.targets
            if draft.role == "targets"
            else await repo.delegated(trusted, draft.role)
        )
        if current is None:
            continue
        kept = set(draft.parsed().signed.targets)
        removed |= {path for path in current.signed.targets if path not in kept}
    return sorted(removed)


async def reconcile_awaiting(ctx: TaskContext, repo: Repository, task_id: str) -> MarksReport:
    """Settle the rows awaiting signatures: signed when the published metadata lists
    their bytes, still awaiting while their role's release draft lists them, else
    unsigned (the draft was cancelled or replaced). Caller holds the repository lock."""
    report = MarksReport()
    async with ctx.reads() as session:
        awaiting = await queries.awaiting_under(session, tenant_keys.artifact_prefix(repo.ref))
    if not awaiting:
        return report
    listed = await listed_entries(repo, sorted(awaiting))
    drafts = await DraftStore(repo).all(sorted({role for _sha, role in awaiting.values()}))
    signed: list[tuple[str, str, str]] = []
    for path, (sha, role) in sorted(awaiting.items()):
        if any(entry.hashes.get("sha256") == sha for entry in listed.get(path, [])):
            signed.append((path, sha, task_id))
            continue
        draft = drafts.get(role)
        entry = draft.parsed().signed.targets.get(path) if draft is not None else None
        if (
            draft is None
            or draft.kind != RELEASE
            or entry is None
            or entry.hashes.get("sha256") != sha
        ):
            report.unsigned.append(path)
    report.signed = [path for path, _sha, _task in signed]
    await ctx.transactions.run(queries.mark_signed, signed)
    await ctx.transactions.run(queries.mark_unsigned, report.unsigned)
    return report


async def delete_unlisted_files(ctx: TaskContext, repo: Repository, paths: list[str]) -> list[str]:
    """Delete the files of ``paths`` that the published metadata no longer lists and no
    registry row owns (a removal that waited for its role's holders)."""
    if not paths:
        return []
    listed = await listed_entries(repo, paths)
    deleted = []
    async with hold_lock(ctx.state, tenant_keys.registry_lock(repo.admin)):
        for path in paths:
            if path not in listed and await delete_file_unless_owned(ctx, path):
                deleted.append(path)
    return deleted
