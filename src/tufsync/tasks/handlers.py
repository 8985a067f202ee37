"""The task functions. Each takes its parameters from the task record.

Every handler that changes metadata holds the repository lock for the whole
change; failure hooks undo markers so a failed task leaves no partial state.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tuf.api.metadata import Metadata

from tufsync import tenant_keys
from tufsync.audit_events import task_event
from tufsync.db import audit, queries
from tufsync.db.audit import AuditDetailError
from tufsync.observability.metrics import observe_batch
from tufsync.registry.marks import WARNING as MARKS_WARNING
from tufsync.registry.marks import record_published
from tufsync.state.locks import LockNotNeeded, hold_lock
from tufsync.tasks.records import FAILURE, SUCCESS, TaskRecord
from tufsync.tuf.bootstrap import discard_bootstrap, run_bootstrap, validate_bootstrap_async
from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.delegated_rotation import publish_delegated
from tufsync.tuf.drafts import Draft, DraftStore
from tufsync.tuf.errors import TufError
from tufsync.tuf.recovery import recover
from tufsync.tuf.rotation import publish_root
from tufsync.tuf.signing_flow import finalize
from tufsync.tuf.targets import TargetSpec, add_targets, remove_targets, role_for_target
from tufsync.writes import write_section

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from tufsync.services import Services


class TaskFailed(Exception):
    """A task ended without doing its work; the message says why."""


@dataclass
class Outcome:
    message: str
    details: dict[str, Any] = field(default_factory=dict)


class Handler(Protocol):
    async def run(self, services: Services, record: TaskRecord) -> Outcome: ...

    async def on_failure(self, services: Services, record: TaskRecord) -> None: ...


class MetadataHandler:
    """Base of handlers that change metadata: a failure drops the repository's
    cached metadata, so nothing half-changed is ever reused."""

    async def on_failure(self, services: Services, record: TaskRecord) -> None:
        services.tuf.repo(record.admin, record.app).files.forget_all()


class BootstrapHandler:
    """``bootstrap``: the request set the marker ``pre-<task>``; the task publishes
    version 1 and sets the marker to ``<task>`` last. Run again after a crash,
    it finds the marker completed (nothing to redo) or starts over."""

    async def run(self, services: Services, record: TaskRecord) -> Outcome:
        engine = services.tuf
        repo = engine.repo(record.admin, record.app)
        async with hold_lock(services.state, repo.lock_name) as lock:
            marker = await repo.bootstrap_marker()
            if marker == record.task_id:
                return Outcome("Bootstrap completed successfully", {"versions": {"root": 1}})
            if marker != f"pre-{record.task_id}":
                raise TaskFailed("the bootstrap was cancelled: its marker is gone")
            plan = await validate_bootstrap_async(
                record.admin, record.app, record.params["payload"], engine.keys, engine.clock()
            )
            await lock.ensure_held()
            versions = await run_bootstrap(repo, plan, record.task_id)
        return Outcome("Bootstrap completed successfully", {"versions": versions})

    async def on_failure(self, services: Services, record: TaskRecord) -> None:
        repo = services.tuf.repo(record.admin, record.app)
        await discard_bootstrap(repo, f"pre-{record.task_id}")


def _specs(raw: list[dict[str, Any]]) -> list[TargetSpec]:
    return [TargetSpec(a["path"], int(a["length"]), dict(a["hashes"])) for a in raw]


class AlreadyFinished(Exception):
    """Another task's batch already finished this task; its record stays as written."""


@dataclass
class _BatchItem:
    record: TaskRecord
    outcome: Outcome | None = None
    error: str | None = None
    signed: dict[str, tuple[str, bool]] = field(default_factory=dict)
    unsigned: list[str] = field(default_factory=list)


async def _uploaded(services: Services, items: list[_BatchItem]) -> set[tuple[str, str, int]]:
    """(path, sha256, length) of every artifact the batch's publish tasks name that
    still exists as uploaded: a registry row with that sha256 and length, and a
    stored file of that length (publish rule: sign only what exists; read under
    the repository lock). One query for the whole batch; the files are checked
    concurrently."""
    specs = [
        spec
        for item in items
        if item.record.name in PUBLISH_TASKS
        for spec in _specs(item.record.params["artifacts"])
    ]
    if not specs:
        return set()
    async with services.sessions() as session:
        rows = await queries.artifacts_by_path(session, sorted({s.path for s in specs}))
    candidates = {
        (s.path, row.sha256, row.length)
        for s in specs
        if (row := rows.get(s.path)) is not None
        and row.sha256 == s.hashes.get("sha256")
        and row.length == s.length
    }
    ordered = sorted(candidates)
    infos = await asyncio.gather(*(services.storage.head(path) for path, _, _ in ordered))
    return {
        c for c, info in zip(ordered, infos, strict=True) if info is not None and info.size == c[2]
    }


async def _claimed(services: Services, items: list[_BatchItem]) -> set[tuple[str, str]]:
    """(path, task id) of the claims on the paths of the batch's removals that delete
    files (read under the repository lock). Such a removal's record is written before
    the deletion commits its claims (see ``registry.service._record_removal``): it acts
    only on the paths it still claims. None claimed means the deletion never committed,
    or this task already finished its work before a crash and released them."""
    paths = sorted(
        {p for item in items if _deletes_files(item.record) for p in item.record.params["paths"]}
    )
    if not paths:
        return set()
    async with services.sessions() as session:
        return set((await queries.claims_on(session, paths)).items())


def _deletes_files(record: TaskRecord) -> bool:
    return record.name == "remove_artifacts" and bool(record.params.get("delete_files"))


async def _apply(
    services: Services,
    change: MetadataChange,
    item: _BatchItem,
    uploaded: set[tuple[str, str, int]],
    claimed: set[tuple[str, str]],
) -> None:
    """Apply one task's publish or removal to the open change, all or nothing."""
    record = item.record
    if record.name in PUBLISH_TASKS:
        requested = _specs(record.params["artifacts"])
        specs = [s for s in requested if (s.path, s.hashes.get("sha256"), s.length) in uploaded]
        gone = sorted({s.path for s in requested} - {s.path for s in specs})
        if not specs:
            raise TaskFailed(
                f"artifact(s) {gone} no longer exist as uploaded (deleted or replaced); "
                "nothing was signed"
            )
        for spec in specs:  # check every path before changing anything
            role_for_target(
                change.trusted.targets.signed, spec.path, change.config.targets_online_key
            )
        placed = await add_targets(change, specs)
        item.signed = {s.path: (s.hashes["sha256"], True) for s in specs}
        details: dict[str, Any] = {
            "artifacts": placed,
            "added_artifacts": [s.path for s in specs],
            "invalid_paths": [],
            "target_roles": sorted(set(placed.values())),
        }
        if gone:
            details["skipped"] = gone
        item.outcome = Outcome("Artifact(s) Added", details)
    else:
        paths = list(record.params["paths"])
        if _deletes_files(record):
            paths = [p for p in paths if (p, record.task_id) in claimed]
        removed = await remove_targets(change, paths)
        item.unsigned = paths
        item.outcome = Outcome(
            f"Successfully removed {len(removed)} artifacts from TUF metadata",
            {"artifacts": removed},
        )


# ``publish_artifacts`` is the name tasks accepted before faynoSync's ``add_artifacts``.
PUBLISH_TASKS = ("add_artifacts", "publish_artifacts")


def _audit_event(item: _BatchItem, versions: dict[str, int]) -> audit.NewEvent | None:
    """The audit event of one landed publish or removal (written in the batch's transaction)."""
    event = task_event(item.record, {"versions": versions})
    if event is None:
        return None
    record = item.record
    return audit.NewEvent(record.app, event[0], record.admin, record.task_id, event[1])


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


async def _delete_unowned(services: Services, path: str) -> None:
    """Delete a removed artifact's file unless a newer upload's row owns the path."""
    async with services.sessions() as session:
        if await queries.get_artifact_by_path(session, path) is not None:
            return
    await services.storage.delete(path)


class TargetsBatchHandler(MetadataHandler):
    """``add_artifacts`` (publish) and ``remove_artifacts``, merged while they wait.

    Each task joins the repository's batch set, then waits for the lock. The
    task that gets the lock claims every waiting task of the batch and applies
    them all in one metadata change (one new version of each touched role, one
    snapshot, one timestamp), then writes each claimed task's own result. A task
    whose artifact cannot be signed fails alone; the others still land.
    """

    async def _commit(
        self, services: Services, change: MetadataChange, items: list[_BatchItem]
    ) -> dict[str, int]:
        """Publish the change, then record it in the registry and drop the claims."""
        versions = (await change.commit()).versions if change.opened else {}
        landed = [item for item in items if item.outcome is not None]
        deleting = [
            item for item in landed if item.unsigned and item.record.params.get("delete_files")
        ]
        task_ids = [i.record.task_id for i in items]
        tx = services.transactions
        events = [e for i in landed if (e := _audit_event(i, versions)) is not None]
        release = [] if deleting else task_ids  # nothing left to do under the claims
        admin = items[0].record.admin
        recorded = await record_published(tx, _record_batch, landed, admin, events, release)
        for item in [] if recorded else landed:  # published all the same: the work is done
            assert item.outcome is not None
            item.outcome.details["warning"] = MARKS_WARNING
        if deleting and recorded:  # else the files wait, claimed, for the same removal again
            for item in deleting:
                for path in item.unsigned:
                    await _delete_unowned(services, path)
            await record_published(tx, queries.release_claims, task_ids)
        return versions

    async def run(self, services: Services, record: TaskRecord) -> Outcome:
        await services.state.add_to_set(tenant_keys.target_batch(record.ref), record.task_id)

        async def finished() -> bool:  # SUCCESS and FAILURE are final: no lock needed
            current = await services.records.get(record.task_id)
            return current is not None and current.state in (SUCCESS, FAILURE)

        try:
            return await self._run_locked(services, record, finished)
        except LockNotNeeded:
            raise AlreadyFinished() from None

    async def _run_locked(
        self, services: Services, record: TaskRecord, finished: Callable[[], Awaitable[bool]]
    ) -> Outcome:
        """Under the repository lock: claim the batch, apply it, commit, finish the others."""
        state = services.state
        repo = services.tuf.repo(record.admin, record.app)
        batch = tenant_keys.target_batch(record.ref)
        async with hold_lock(state, repo.lock_name, unless=finished) as lock:
            if await finished():  # finished after the check at our turn, by another process
                raise AlreadyFinished()
            claimed = [tid for tid in await state.drain_set(batch) if tid != record.task_id]
            others = await services.records.get_many(claimed)
            items = [_BatchItem(r) for r in sorted([record, *others], key=lambda r: r.created_at)]
            items = [i for i in items if i.record.state not in (SUCCESS, FAILURE)]
            observe_batch(len(items))
            change = await MetadataChange.begin(repo, lock)
            uploaded = await _uploaded(services, items)
            claims = await _claimed(services, items)
            for item in items:
                try:
                    await _apply(services, change, item, uploaded, claims)
                except (TufError, TaskFailed) as exc:
                    item.error = str(exc)
            versions = await write_section(self._commit(services, change, items))
            own: _BatchItem | None = None
            for item in items:
                if item.outcome is not None:
                    item.outcome.details["versions"] = versions
                    item.outcome.details["batch_size"] = len(items)
                if item.record.task_id == record.task_id:
                    own = item
                    continue
                if item.outcome is not None:
                    await services.records.finish(
                        item.record,
                        ok=True,
                        message=item.outcome.message,
                        details=item.outcome.details,
                    )
                else:
                    await services.records.finish(item.record, ok=False, error=item.error)
        assert own is not None
        if own.outcome is None:
            raise TaskFailed(own.error or "task failed")
        return own.outcome

    async def on_failure(self, services: Services, record: TaskRecord) -> None:
        await super().on_failure(services, record)
        await services.transactions.run(queries.release_claims, [record.task_id])


class ForceUpdateHandler(MetadataHandler):
    """Re-sign online roles: asked for by an admin, or queued by the refresh scheduler."""

    async def run(self, services: Services, record: TaskRecord) -> Outcome:
        repo = services.tuf.repo(record.admin, record.app)
        roles: list[str] = list(record.params["roles"])
        try:
            async with hold_lock(services.state, repo.lock_name) as lock:
                change = await MetadataChange.begin(repo, lock)
                for role in roles:
                    if role == "snapshot":
                        change.force_snapshot = True
                    elif role != "timestamp":
                        await change.open(role)
                result = await change.commit()
        finally:
            if record.params.get("automatic"):
                await services.state.delete(tenant_keys.refresh_queued(record.ref))
        return Outcome(
            "Force new online metadata update succeeded",
            {"roles": roles, "versions": result.versions},
        )


class UpdateSettingsHandler:
    async def run(self, services: Services, record: TaskRecord) -> Outcome:
        repo = services.tuf.repo(record.admin, record.app)
        days: dict[str, int] = {k: int(v) for k, v in record.params["expiration"].items()}
        async with hold_lock(services.state, repo.lock_name):
            config = (await repo.require_config()).with_expirations(days)
            await repo.save_config(config)
            schedule = await repo.schedule()
            if schedule is not None:
                await repo.record_expiries({}, config)
        return Outcome(
            "Update Settings Succeeded",
            {"expiration": days, "updated_roles": list(days), "invalid_roles": []},
        )

    async def on_failure(self, services: Services, record: TaskRecord) -> None:
        return None


class RootUpdateHandler(MetadataHandler):
    """``metadata_update``: publish a fully signed new root, or report the stored draft."""

    async def run(self, services: Services, record: TaskRecord) -> Outcome:
        if record.params["mode"] == "awaiting":
            return Outcome(
                f"Root version {record.params['version']} stored; awaiting signatures "
                "(see GET /tuf/v1/metadata/sign)"
            )
        repo = services.tuf.repo(record.admin, record.app)
        new_root = Metadata.from_dict(copy.deepcopy(record.params["root"]))
        async with hold_lock(services.state, repo.lock_name) as lock:
            versions = await publish_root(repo, new_root, lock)
            store = DraftStore(repo)
            draft = await store.get("root")
            if draft is not None and draft.metadata["signed"]["version"] <= new_root.signed.version:
                await store.delete("root")  # a draft of a version now published is stale
        return Outcome("Metadata update completed successfully", {"versions": versions})


class DelegationHandler(MetadataHandler):
    """``metadata_delegation``: publish a delegated rotation or report staged drafts."""

    async def run(self, services: Services, record: TaskRecord) -> Outcome:
        roles = [d["role"] for d in record.params["drafts"]]
        if record.params["mode"] == "awaiting":
            return Outcome(f"Metadata rotation of {roles} staged; awaiting signatures")
        repo = services.tuf.repo(record.admin, record.app)
        drafts = [
            Draft(d["role"], d["metadata"], d["trusted_version"]) for d in record.params["drafts"]
        ]
        async with hold_lock(services.state, repo.lock_name) as lock:
            versions = await publish_delegated(repo, drafts, lock)
        return Outcome("Delegated metadata published", {"versions": versions})


class FinalizeSigningHandler(MetadataHandler):
    """``sign_metadata``: thresholds are met; publish the draft(s) and remove them."""

    async def run(self, services: Services, record: TaskRecord) -> Outcome:
        repo = services.tuf.repo(record.admin, record.app)
        async with hold_lock(services.state, repo.lock_name) as lock:
            config = await repo.require_config()
            role = record.params["role"]
            versions = await finalize(repo, config, role, lock)
        if isinstance(versions, list):
            return Outcome(
                f"Role {role} signing complete; the rotation is published once "
                f"{versions} are signed too",
                {"awaiting": versions},
            )
        return Outcome("Metadata update finished", {"versions": versions})


class CancelSigningHandler:
    """``delete_sign_metadata``: drop a draft; the trusted metadata is untouched."""

    async def run(self, services: Services, record: TaskRecord) -> Outcome:
        repo = services.tuf.repo(record.admin, record.app)
        role = record.params["role"]
        await DraftStore(repo).delete(role)
        return Outcome(f"Deletion of {role} metadata successful, signing process stopped")

    async def on_failure(self, services: Services, record: TaskRecord) -> None:
        return None


class RecoveryHandler:
    """``bootstrap_recovery``: rebuild state-store entries from the object store."""

    async def run(self, services: Services, record: TaskRecord) -> Outcome:
        repo = services.tuf.repo(record.admin, record.app)
        try:
            async with hold_lock(services.state, repo.lock_name):
                config = await recover(repo, record.task_id)
        finally:
            await services.state.delete_if_equals(tenant_keys.recovery(record.ref), record.task_id)
        return Outcome("Bootstrap state recovered", {"bootstrap": config.bootstrap})

    async def on_failure(self, services: Services, record: TaskRecord) -> None:
        await services.state.delete_if_equals(tenant_keys.recovery(record.ref), record.task_id)


HANDLERS: dict[str, Handler] = {
    "bootstrap_recovery": RecoveryHandler(),
    "metadata_update": RootUpdateHandler(),
    "metadata_delegation": DelegationHandler(),
    "sign_metadata": FinalizeSigningHandler(),
    "delete_sign_metadata": CancelSigningHandler(),
    "force_online_metadata_update": ForceUpdateHandler(),
    "update_settings": UpdateSettingsHandler(),
    "bootstrap": BootstrapHandler(),
    "add_artifacts": TargetsBatchHandler(),
    "publish_artifacts": TargetsBatchHandler(),
    "remove_artifacts": TargetsBatchHandler(),
}
