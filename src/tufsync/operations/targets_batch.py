"""The publish and removal tasks (``add_artifacts``, ``remove_artifacts``), merged while
they wait.

Each task joins the repository's batch set, then waits for the lock. The task
that gets the lock claims every waiting task of the batch and applies them all
in one metadata change (one new version of each touched role, one snapshot,
one timestamp), then writes each claimed task's own result. A task whose
artifact cannot be signed fails alone; the others still land.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tufsync import tenant_keys, testhooks
from tufsync.audit_events import task_event
from tufsync.db import audit, queries
from tufsync.db.audit import AuditDetailError
from tufsync.observability.metrics import observe_batch
from tufsync.operations.artifacts import PublishParams, RemoveParams
from tufsync.operations.metadata_task import MetadataHandler
from tufsync.operations.offline_marks import reconcile_awaiting
from tufsync.registry.marks import WARNING as MARKS_WARNING
from tufsync.registry.marks import record_published
from tufsync.state.locks import HeldLock, LockNotNeeded, hold_lock
from tufsync.tasks.contract import AlreadyFinished, Outcome, TaskContext, TaskFailed
from tufsync.tasks.kinds import PUBLISH_TASKS, TaskName
from tufsync.tasks.records import FAILURE, SUCCESS, TaskRecord
from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.errors import TufError
from tufsync.tuf.listing import listed_entries
from tufsync.tuf.targets import TargetSpec, add_targets, remove_targets, role_for_target
from tufsync.writes import write_section

if TYPE_CHECKING:
    from sqlalchemy import Connection

Uploaded = set[tuple[str, str, int]]
Claimed = set[tuple[str, str]]


@dataclass
class _BatchItem:
    record: TaskRecord
    publish: PublishParams | None = None
    remove: RemoveParams | None = None
    outcome: Outcome | None = None
    error: str | None = None
    signed: dict[str, tuple[str, bool]] = field(default_factory=dict)
    unsigned: list[str] = field(default_factory=list)
    # Paths staged in the draft of a role the server cannot sign: path -> (sha256, role).
    awaiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Roles whose drafts this task changed (their versions are known after the commit).
    drafted: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, record: TaskRecord) -> _BatchItem:
        if record.name in PUBLISH_TASKS:
            return cls(record, publish=PublishParams.model_validate(record.params))
        return cls(record, remove=RemoveParams.model_validate(record.params))

    @property
    def specs(self) -> list[TargetSpec]:
        return [a.target() for a in self.publish.artifacts] if self.publish else []

    @property
    def deletes_files(self) -> bool:
        return self.remove is not None and self.remove.delete_files

    @property
    def keeps_claims(self) -> bool:
        """A removal of deleted rows that failed keeps its claims: the claims sweep hands
        paths TUF still lists to a new removal task (tufsync.tasks.claims), frees the
        others."""
        return self.outcome is None and self.deletes_files


def _as_uploaded(specs: list[TargetSpec], rows: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(path, sha256, length) of the specs whose registry row has that sha256 and length."""
    found = set()
    for spec in specs:
        row = rows.get(spec.path)
        if row is not None and (row.sha256, row.length) == (spec.hashes.get("sha256"), spec.length):
            found.add((spec.path, row.sha256, row.length))
    return sorted(found)


async def _uploaded(ctx: TaskContext, items: list[_BatchItem]) -> Uploaded:
    """(path, sha256, length) of every artifact the batch's publish tasks name that
    still exists as uploaded: a registry row with that sha256 and length, and a
    stored file of that length (publish rule: sign only what exists; read under
    the repository lock). One query for the whole batch; the files are checked
    concurrently."""
    specs = [spec for item in items for spec in item.specs]
    if not specs:
        return set()
    async with ctx.sessions() as session:
        rows = await queries.artifacts_by_path(session, sorted({s.path for s in specs}))
    candidates = _as_uploaded(specs, rows)
    infos = await asyncio.gather(*(ctx.storage.head(path) for path, _, _ in candidates))
    return {
        c
        for c, info in zip(candidates, infos, strict=True)
        if info is not None and info.size == c[2]
    }


async def _claimed(ctx: TaskContext, items: list[_BatchItem]) -> Claimed:
    """(path, task id) of the claims on the paths of the batch's removals that delete
    files (read under the repository lock). Such a removal's record is written before
    the deletion commits its claims (see ``registry.service._record_removal``): it acts
    only on the paths it still claims. None claimed means the deletion never committed,
    or this task already finished its work before a crash and released them."""
    paths = sorted({p for i in items if i.remove and i.deletes_files for p in i.remove.paths})
    if not paths:
        return set()
    async with ctx.sessions() as session:
        return set((await queries.claims_on(session, paths)).items())


async def _apply_publish(change: MetadataChange, item: _BatchItem, uploaded: Uploaded) -> None:
    requested = item.specs
    specs = [s for s in requested if (s.path, s.hashes.get("sha256"), s.length) in uploaded]
    gone = sorted({s.path for s in requested} - {s.path for s in specs})
    if not specs:
        raise TaskFailed(
            f"artifact(s) {gone} no longer exist as uploaded (deleted or replaced); "
            "nothing was signed"
        )
    for spec in specs:  # check every path before changing anything
        role_for_target(change.trusted.targets.signed, spec.path, change.config.targets_online_key)
    placed = await add_targets(change, specs)
    staged = {path for path, role in placed.items() if role in change.staged}
    item.signed = {s.path: (s.hashes["sha256"], True) for s in specs if s.path not in staged}
    item.awaiting = {
        s.path: (s.hashes["sha256"], placed[s.path]) for s in specs if s.path in staged
    }
    item.drafted = {placed[p] for p in staged} | ({"targets"} & set(change.staged))
    details: dict[str, Any] = {
        "artifacts": placed,
        "added_artifacts": [s.path for s in specs if s.path not in staged],
        "invalid_paths": [],
        "target_roles": sorted(set(placed.values())),
    }
    if gone:
        details["skipped"] = gone
    message = "Artifact(s) Added"
    if staged:
        details["awaiting_artifacts"] = sorted(staged)
        message = AWAITING_MESSAGE
    item.outcome = Outcome(message, details)


AWAITING_MESSAGE = (
    "Artifact(s) staged for signing: the roles listed in awaiting_signatures are signed "
    "offline; their key holders sign the drafts (GET /tuf/v1/metadata/sign, then "
    "POST /tuf/v1/metadata/sign or `tufsync sign`), which are published once their "
    "thresholds are met"
)


async def _apply_removal(
    change: MetadataChange, item: _BatchItem, params: RemoveParams, claimed: Claimed
) -> None:
    paths = list(params.paths)
    if params.delete_files:
        paths = [p for p in paths if (p, item.record.task_id) in claimed]
    removed = await remove_targets(change, paths)
    drafted = {role for role in change.staged if role in removed.values()}
    # A path removed in a draft stays published (and its row signed, its file kept)
    # until the role's holders sign the draft.
    pending = await _still_published(change, [p for p, r in removed.items() if r in drafted])
    item.unsigned = [p for p in paths if p not in pending]
    item.drafted = drafted
    details: dict[str, Any] = {"artifacts": removed}
    message = f"Successfully removed {len(removed)} artifacts from TUF metadata"
    if pending:
        details["awaiting_artifacts"] = sorted(pending)
        message = (
            f"Removal of {len(removed)} artifacts staged: {sorted(pending)} stay published "
            "until the key holders of the roles in awaiting_signatures sign their drafts"
        )
    item.outcome = Outcome(message, details)


async def _still_published(change: MetadataChange, paths: list[str]) -> set[str]:
    """The ``paths`` the published metadata lists (read from the published files)."""
    if not paths:
        return set()
    return set(await listed_entries(change.repo, paths))


async def _apply(
    change: MetadataChange, item: _BatchItem, uploaded: Uploaded, claimed: Claimed
) -> None:
    """Apply one task's publish or removal to the open change, all or nothing."""
    if item.remove is not None:
        await _apply_removal(change, item, item.remove, claimed)
    else:
        await _apply_publish(change, item, uploaded)


def _audit_event(item: _BatchItem, versions: dict[str, int]) -> audit.NewEvent | None:
    """The audit event of one landed publish or removal (written in the batch's transaction)."""
    event = task_event(item.record, {"versions": versions})
    if event is None:
        return None
    record = item.record
    return audit.NewEvent(record.app, event[0], record.admin, record.task_id, event[1])


def _audit_events(landed: list[_BatchItem], versions: dict[str, int]) -> list[audit.NewEvent]:
    return [e for i in landed if (e := _audit_event(i, versions)) is not None]


def _mark(conn: Connection, landed: list[_BatchItem]) -> None:
    """Mark the registry rows of the landed tasks signed or unsigned, in task order
    (signed rows of consecutive publishes in one statement)."""
    signed: list[tuple[str, str, str]] = []
    for item in landed:
        if item.unsigned:
            queries.mark_signed(conn, signed)
            signed = []
            queries.mark_unsigned(conn, item.unsigned)
        signed += [(path, sha, item.record.task_id) for path, (sha, _) in item.signed.items()]
        awaiting = [(p, sha, item.record.task_id, role) for p, (sha, role) in item.awaiting.items()]
        queries.mark_awaiting(conn, awaiting)
    queries.mark_signed(conn, signed)


def _record_batch(
    conn: Connection,
    landed: list[_BatchItem],
    admin: str,
    events: list[audit.NewEvent],
    release: list[str],
) -> None:
    """The registry side of a landed change, one transaction: marks, audit events,
    and (``release``) the claims of the batch's tasks."""
    _mark(conn, landed)
    if events:
        owner_id = queries.user_id(conn, admin)
        if owner_id is None:
            raise AuditDetailError(f"no account {admin!r} to record its events for")
        audit.add_many(conn, owner_id, events)
    queries.release_claims(conn, release)


async def _delete_unowned(ctx: TaskContext, path: str) -> None:
    """Delete a removed artifact's file unless a newer upload's row owns the path."""
    async with ctx.sessions() as session:
        if await queries.get_artifact_by_path(session, path) is not None:
            return
    await ctx.storage.delete(path)


async def _commit(
    ctx: TaskContext, change: MetadataChange, items: list[_BatchItem]
) -> dict[str, int]:
    """Publish the change (and store its drafts), then record it in the registry and
    drop the claims."""
    versions: dict[str, int] = {}
    if change.opened or change.staged:
        result = await change.commit()
        versions = result.versions
        await testhooks.pause("published")
        if change.absorbed:  # release drafts published online: their rows are signed
            await reconcile_awaiting(ctx, change.repo, items[0].record.task_id)
        for item in _landed(items):
            if item.drafted:
                assert item.outcome is not None
                item.outcome.details["awaiting_signatures"] = {
                    role: result.staged[role] for role in sorted(item.drafted)
                }
    landed = _landed(items)
    deleting = _deleting(landed)
    task_ids = _releasing(items)
    release = [] if deleting else task_ids  # nothing left to do under the claims
    events = _audit_events(landed, versions)
    recorded = await _record(ctx, landed, items[0].record.admin, events, release)
    if deleting and recorded:  # else the files wait, claimed, for the same removal again
        await _delete_files(ctx, deleting)
        await record_published(ctx.transactions, queries.release_claims, task_ids)
    return versions


def _landed(items: list[_BatchItem]) -> list[_BatchItem]:
    """The batch's tasks whose work is in the change."""
    return [item for item in items if item.outcome is not None]


def _deleting(landed: list[_BatchItem]) -> list[_BatchItem]:
    """The landed removals that also delete the files of the paths they removed."""
    return [item for item in landed if item.unsigned and item.deletes_files]


async def _record(
    ctx: TaskContext,
    landed: list[_BatchItem],
    admin: str,
    events: list[audit.NewEvent],
    release: list[str],
) -> bool:
    """Record a published change in the registry (retried on a lost connection).
    False when the database stayed unreachable: the change is public all the same,
    so each landed task still succeeds, with a warning that its marks are stale."""
    recorded = await record_published(
        ctx.transactions, _record_batch, landed, admin, events, release
    )
    if not recorded:
        for item in landed:
            assert item.outcome is not None
            item.outcome.details["warning"] = MARKS_WARNING
    return recorded


def _releasing(items: list[_BatchItem]) -> list[str]:
    """The ids of the batch's tasks whose claims go when the batch lands."""
    return [item.record.task_id for item in items if not item.keeps_claims]


async def _delete_files(ctx: TaskContext, deleting: list[_BatchItem]) -> None:
    for item in deleting:
        for path in item.unsigned:
            await _delete_unowned(ctx, path)


async def _claim_batch(ctx: TaskContext, record: TaskRecord) -> list[_BatchItem]:
    """This task and every unfinished task waiting in its batch, oldest first."""
    batch = tenant_keys.target_batch(record.ref)
    claimed = [tid for tid in await ctx.state.drain_set(batch) if tid != record.task_id]
    others = await ctx.records.get_many(claimed)
    ordered = sorted([record, *others], key=lambda r: r.created_at)
    return [_BatchItem.of(r) for r in ordered if r.state not in (SUCCESS, FAILURE)]


async def _apply_all(ctx: TaskContext, change: MetadataChange, items: list[_BatchItem]) -> None:
    uploaded = await _uploaded(ctx, items)
    claims = await _claimed(ctx, items)
    for item in items:
        try:
            await _apply(change, item, uploaded, claims)
        except (TufError, TaskFailed) as exc:
            item.error = str(exc)


async def _finish_others(
    ctx: TaskContext, items: list[_BatchItem], versions: dict[str, int], own_id: str
) -> _BatchItem:
    """Write the result of every task of the batch but this one; return this one's item."""
    own: _BatchItem | None = None
    for item in items:
        if item.outcome is not None:
            item.outcome.details["versions"] = versions
            item.outcome.details["batch_size"] = len(items)
        if item.record.task_id == own_id:
            own = item
        elif item.outcome is not None:
            outcome = item.outcome
            await ctx.records.finish(
                item.record, ok=True, message=outcome.message, details=outcome.details
            )
        else:
            await ctx.records.finish(item.record, ok=False, error=item.error)
    assert own is not None
    return own


class TargetsBatchHandler(MetadataHandler):
    async def run(self, ctx: TaskContext, record: TaskRecord) -> Outcome:
        await ctx.state.add_to_set(tenant_keys.target_batch(record.ref), record.task_id)

        async def finished() -> bool:  # SUCCESS and FAILURE are final: no lock needed
            current = await ctx.records.get(record.task_id)
            return current is not None and current.state in (SUCCESS, FAILURE)

        try:
            own = await self._run_locked(ctx, record, finished)
        except LockNotNeeded:
            raise AlreadyFinished() from None
        if own.outcome is None:
            raise TaskFailed(own.error or "task failed")
        return own.outcome

    async def _run_locked(
        self, ctx: TaskContext, record: TaskRecord, finished: Callable[[], Awaitable[bool]]
    ) -> _BatchItem:
        """Under the repository lock: claim the batch, apply it, commit, finish the others."""
        repo = ctx.tuf.repo(record.admin, record.app)
        async with hold_lock(ctx.state, repo.lock_name, unless=finished) as lock:
            if await finished():  # finished after the check at our turn, by another process
                raise AlreadyFinished()
            return await self._batch(ctx, record, lock)

    async def _batch(self, ctx: TaskContext, record: TaskRecord, lock: HeldLock) -> _BatchItem:
        items = await _claim_batch(ctx, record)
        observe_batch(len(items))
        change = await MetadataChange.begin(ctx.tuf.repo(record.admin, record.app), lock)
        await _apply_all(ctx, change, items)
        versions = await write_section(_commit(ctx, change, items))
        return await _finish_others(ctx, items, versions, record.task_id)

    async def on_failure(self, ctx: TaskContext, record: TaskRecord) -> None:
        """Drop the cached metadata and the task's claims, except those of a removal
        that deletes files: its registry rows are gone already, so the claims stay
        for the claims sweep, which hands paths TUF still lists to a new removal
        (tufsync.tasks.claims) and frees the others."""
        await super().on_failure(ctx, record)
        if (
            record.name == TaskName.REMOVE
            and RemoveParams.model_validate(record.params).delete_files
        ):
            return
        await ctx.transactions.run(queries.release_claims, [record.task_id])
