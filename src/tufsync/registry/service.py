"""Registry operations that span the database and the object store.

Uploads stage bytes privately, add rows, then move objects to their public
keys; any failure removes what this request wrote, unless its COMMIT may have
landed (then its files stay). Deleting artifacts the published TUF metadata
lists first starts their removal from TUF. A path that a queued TUF task will
touch (a claim, see :class:`tufsync.db.models.TufClaim`) is neither overwritten
nor deleted; the final step of uploads and deletions holds the admin's registry
lock, so a deletion never removes a file a newer upload just placed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tuf.api.serialization import DeserializationError

from tufsync import tenant_keys, testhooks
from tufsync.auth.scope import require_app
from tufsync.db import queries
from tufsync.db.models import Artifact, Version
from tufsync.db.transactions import run_in_session
from tufsync.names import file_extension, target_path
from tufsync.registry.quota import UploadBudget, upload_budget
from tufsync.registry.uploads import Readable, StagedFile, UploadTooLarge, stage_file
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import TaskRecord
from tufsync.tasks.submit import queue_created
from tufsync.tuf.listing import listed_entries, same_content

log = logging.getLogger(__name__)


class RegistryError(Exception):
    """A registry request that cannot be done; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str, *, bare: bool = False) -> None:
        super().__init__(message)
        self.status = status
        # As ApiError.bare: faynoSync's exact body, so no default message is added.
        self.bare = bare


class NamedUpload(Readable, Protocol):
    filename: str | None


@dataclass(frozen=True)
class UploadMeta:
    app_name: str
    version: str
    channel: str
    platform: str
    arch: str
    publish: bool
    critical: bool
    changelog: str
    intermediate: bool = False


def changelog_entry(version: str, changes: str) -> dict[str, str]:
    return {"Version": version, "Changes": changes, "Date": datetime.now(UTC).date().isoformat()}


async def upload_artifacts(
    services: TaskContext,
    owner_id: int,
    admin: str,
    meta: UploadMeta,
    files: Sequence[NamedUpload],
    budget: UploadBudget | None = None,
) -> str:
    """Store ``files`` as artifacts of one version; return the version id.

    Files are staged (and hashed) before the admin's registry lock is taken; under
    the lock one database transaction checks claims and existing paths, writes the
    app, version, artifact and catalogue rows, and moves the staged files to their
    public keys before it commits (any failure deletes what this request wrote).
    ``budget`` bounds what is stored (size limit, quota, disk reserve:
    tufsync.registry.quota); without one it is measured here. When the COMMIT itself
    fails, the files stay unless a new connection shows that no row landed
    (:func:`_commit_landed`).
    """
    planned: dict[str, tuple[NamedUpload, str]] = {}
    for upload in files:
        ext = file_extension(upload.filename or "")
        path = target_path(
            admin, meta.app_name, meta.version, meta.channel, meta.platform, meta.arch, ext
        )
        if path in planned:
            raise RegistryError(
                409, f"Two files in this upload map to the same artifact path {path}"
            )
        planned[path] = (upload, ext)

    storage = services.storage
    budget = budget or await upload_budget(services, owner_id)
    limit = budget.limit
    staged: dict[str, StagedFile] = {}
    moved: list[str] = []
    try:
        for path, (upload, _ext) in planned.items():
            staged[path] = await stage_file(storage, upload, limit, budget.guard)
            limit -= staged[path].length
        await _refuse_listed(services, admin, meta.app_name, staged)
        async with hold_lock(services.state, tenant_keys.registry_lock(admin)):
            committing = False
            try:
                async with services.transactions.begin() as tx:
                    version_id, to_move = await tx.run(
                        _write_rows, owner_id, meta, planned, staged, budget
                    )
                    for source, target in to_move:
                        await storage.move(source, target)
                        moved.append(target)
                    committing = True
            except BaseException as exc:
                if not committing:
                    raise
                # The COMMIT failed, or only its answer was lost with the connection.
                landed = await _commit_landed(services, version_id, staged, moved, exc)
                if landed is not True:
                    if landed is None:
                        moved.clear()  # undecided: keep the files, the rows may exist
                    raise
            placed, moved = moved, []  # committed: the rows own these files now
    except IntegrityError:
        await _undo(services, staged, moved)
        raise RegistryError(
            409, "Another upload wrote the same artifact at the same time"
        ) from None
    except UploadTooLarge:
        await _undo(services, staged, moved)
        raise budget.too_large() from None
    except BaseException:
        await _undo(services, staged, moved)
        raise
    for path, file in staged.items():
        if path not in placed:  # identical bytes were there already; a move consumed the rest
            await storage.delete(file.staging_key)
    return version_id


async def _refuse_listed(
    services: TaskContext, admin: str, app_name: str, staged: dict[str, StagedFile]
) -> None:
    """409 when the repository's published TUF metadata lists one of the paths with
    other content (length or hashes).

    Whether a path may be overwritten is decided by what clients are told, not by
    a registry row or a removal task, either of which may have been lost: a file
    replaced under a listed path fails every client's length and hash checks
    (https://theupdateframework.github.io/specification/latest/#fetch-target).
    A listed path that no registry row owns and no task claims is a removal that
    was lost: it is started again here. One fresh read of ``timestamp.json``; the
    rest comes from the metadata cache.
    """
    try:
        listed = await listed_entries(services.tuf.repo(admin, app_name), sorted(staged))
    except DeserializationError:
        raise RegistryError(
            409,
            f"The published TUF metadata of app {app_name!r} cannot be read, so no path "
            "it may list can be written; recover the repository first",
        ) from None
    conflicting = []
    for path, entries in listed.items():
        file = staged[path]
        hashes = {"sha256": file.sha256, "sha512": file.sha512}
        if not all(same_content(entry, file.length, hashes) for entry in entries):
            conflicting.append(path)
    if not conflicting:
        return
    path = conflicting[0]
    task_id = await _remove_unowned(services, admin, app_name, conflicting)
    if task_id is not None:
        then = (
            f"its removal from TUF was started again (task {task_id}); "
            "upload again when that task has finished"
        )
    else:
        then = (
            "remove it from TUF first (delete the artifact, or POST /tuf/v1/artifacts/delete) "
            "or wait for its removal to finish, then upload again"
        )
    raise RegistryError(409, f"Artifact {path} is still listed by TUF with other content; {then}")


async def _remove_unowned(
    services: TaskContext, admin: str, app_name: str, paths: list[str]
) -> str | None:
    """Start the removal from TUF of the listed ``paths`` that no registry row owns (their
    removal was lost); return its task id, or None. 409 naming the task when a task
    claims one of them already."""
    removal = _Removal(services, admin)
    async with (
        hold_lock(services.state, tenant_keys.registry_lock(admin)),
        removal.transaction() as session,
    ):
        refuse_claimed(await queries.claims_on(session, paths))  # its task is under way
        owned = await queries.artifacts_by_path(session, paths)
        lost = [p for p in paths if p not in owned]
        await removal.claim(session, app_name, lost, version_id="")
    return await removal.queue()


def _catalog_values(meta: UploadMeta) -> dict[str, str]:
    """The non-empty channel/platform/arch values an upload adds to its catalogue."""
    values = {"channel": meta.channel, "platform": meta.platform, "arch": meta.arch}
    return {kind: name for kind, name in values.items() if name}


def _check_existing(path: str, file: StagedFile, existing: queries.ExistingArtifact) -> None:
    """An artifact already at ``path`` is fine only with the same bytes; else 409."""
    if existing.sha256 == file.sha256 and existing.length == file.length:
        return
    if existing.tuf_signed:
        raise RegistryError(
            409,
            f"Artifact {path} is TUF-signed (or awaiting signatures) and cannot be "
            "overwritten; remove it from TUF first",
        )
    raise RegistryError(
        409,
        f"Artifact {path} already exists with different content; "
        "delete it first or upload another version",
    )


def _write_rows(
    conn: Connection,
    owner_id: int,
    meta: UploadMeta,
    planned: dict[str, tuple[NamedUpload, str]],
    staged: dict[str, StagedFile],
    budget: UploadBudget,
) -> tuple[str, list[tuple[str, str]]]:
    """The upload's rows (caller's transaction); returns the version id and the
    (staging key, public key) moves to make before commit."""
    claimed, existing = queries.upload_path_states(conn, list(planned))
    refuse_claimed(claimed)
    catalog = _catalog_values(meta)
    target = queries.upload_target(
        conn, owner_id, meta.app_name, meta.version, meta.channel, catalog
    )
    changelog = [changelog_entry(meta.version, meta.changelog)] if meta.changelog else []
    app_id = target.app_id or queries.insert_app(conn, owner_id, meta.app_name)
    if target.version_id is None:
        version_id = queries.insert_version(
            conn,
            {
                "app_id": app_id,
                "version": meta.version,
                "channel": meta.channel,
                "published": meta.publish,
                "critical": meta.critical,
                "intermediate": meta.intermediate,
                "changelog": changelog,
            },
        )
    else:
        version_id = target.version_id
        queries.update_version(
            conn,
            version_id,
            published=meta.publish,
            critical=meta.critical,
            intermediate=meta.intermediate,
            changelog=[*target.changelog, *changelog] if changelog else None,
        )
    rows: list[dict[str, object]] = []
    to_move: list[tuple[str, str]] = []
    for path, (_upload, ext) in planned.items():
        file = staged[path]
        if path in existing:
            _check_existing(path, file, existing[path])
            continue
        rows.append(
            {
                "version_id": version_id,
                "platform": meta.platform,
                "arch": meta.arch,
                "package": ext,
                "length": file.length,
                "sha256": file.sha256,
                "sha512": file.sha512,
                "tuf_path": path,
                "tuf_signed": False,
            }
        )
        to_move.append((file.staging_key, path))
    budget.check_rows(conn, owner_id, sum(staged[p].length for p in planned if p not in existing))
    queries.insert_artifacts(conn, rows)
    if target.catalog_known < len(catalog):
        queries.add_catalog_items(conn, owner_id, catalog)
    if target.app_id is not None:
        queries.touch_app(conn, app_id)
    return version_id, to_move


async def _commit_landed(
    services: TaskContext,
    version_id: str,
    staged: dict[str, StagedFile],
    moved: list[str],
    error: BaseException,
) -> bool | None:
    """Whether an upload's transaction committed although its COMMIT raised ``error``
    (caller holds the registry lock): asked on a new connection, True when every
    moved path has this version's row with the staged bytes, False when none has.

    A lost connection can take the COMMIT's answer with it after the database
    made it durable; undoing then would leave rows whose files are gone. None
    when it cannot be decided (the check failed too, or some rows exist and
    others do not): the caller keeps the files. A file without a row is listed
    nowhere (no registry entry, no TUF target) and the next upload of its path
    replaces it; a row without its file breaks every download of it
    (docs/design.md invariant 9).
    """
    if not moved:
        return False  # nothing was placed: nothing to keep
    if not isinstance(error, Exception):
        return None  # cancelled or exiting: no time to ask
    try:
        async with services.reads() as session:
            rows = await queries.artifacts_by_path(session, moved)
    except Exception:
        log.warning(
            "an upload's commit failed and whether it landed cannot be read; its files stay",
            extra={"fields": {"event": "upload_commit_undecided"}},
        )
        return None
    ours = {
        path
        for path, row in rows.items()
        if row.version_id == version_id
        and (row.sha256, row.length) == (staged[path].sha256, staged[path].length)
    }
    if len(ours) == len(moved):
        log.warning(
            "an upload's commit answer was lost with its connection, but the commit landed",
            extra={"fields": {"event": "upload_commit_landed"}},
        )
        return True
    return False if not ours else None


async def _undo(services: TaskContext, staged: dict[str, StagedFile], moved: list[str]) -> None:
    for file in staged.values():
        await services.storage.delete(file.staging_key)
    for key in moved:
        await services.storage.delete(key)


async def owned_version(
    session: AsyncSession,
    owner_id: int,
    version_id: str,
    *,
    expect_app: str | None = None,
    expect_version: str | None = None,
) -> Version:
    """The owner's version with its artifacts; 404 when missing or foreign, 400 when it
    is not the app or version the caller named."""
    version = await queries.get_version(session, owner_id, version_id)
    if version is None:
        raise RegistryError(404, "App version not found")
    require_app(version.app.name)
    if expect_app is not None and version.app.name != expect_app:
        raise RegistryError(400, f"Version {version_id} does not belong to app {expect_app!r}")
    if expect_version is not None and version.version != expect_version:
        raise RegistryError(
            400, f"Version id {version_id} is version {version.version!r}, not {expect_version!r}"
        )
    return version


def pick_artifacts(version: Version, indices: list[int]) -> list[Artifact]:
    """The artifacts at ``indices`` (positions in the version's list); 400 if out of range."""
    artifacts = list(version.artifacts)
    bad = [i for i in indices if not 0 <= i < len(artifacts)]
    if bad:
        raise RegistryError(
            400,
            f"Artifact index(es) {bad} out of range: this version has {len(artifacts)} artifact(s)",
        )
    return [artifacts[i] for i in sorted(set(indices))]


async def delete_artifacts(
    services: TaskContext,
    owner_id: int,
    admin: str,
    version_id: str,
    indices: list[int] | None,
    *,
    expect_app: str | None = None,
    expect_version: str | None = None,
) -> str | None:
    """Delete artifacts (all when ``indices`` is None) and, with them, the version.

    A path a queued TUF task will touch is refused (409). Artifacts the published
    metadata lists (or marked signed) are removed from TUF by a task (its id is
    returned), which claims their paths until it has unlisted and deleted the
    files. Other files are deleted here, unless a newer upload already owns the path.
    """
    removal = _Removal(services, admin)
    async with hold_lock(services.state, tenant_keys.registry_lock(admin)):
        async with removal.transaction() as session:
            version = await owned_version(
                session, owner_id, version_id, expect_app=expect_app, expect_version=expect_version
            )
            chosen = (
                list(version.artifacts) if indices is None else pick_artifacts(version, indices)
            )
            paths = [a.tuf_path for a in chosen]
            await testhooks.pause("read", task="registry_delete")
            app_name = version.app.name
            in_tuf = await _to_remove_from_tuf(services, session, admin, app_name, paths)
            for artifact in chosen:
                version.artifacts.remove(artifact)
            if indices is None:
                await session.delete(version)
            else:
                queries.touch(version)
            # The removal task deletes these files only after TUF no longer lists them.
            await removal.claim(session, app_name, in_tuf, version_id=version_id)
        await testhooks.pause("committed", task="registry_delete")
        await _delete_unsigned(services, paths, in_tuf)
    return await removal.queue()


async def delete_app(services: TaskContext, owner_id: int, admin: str, app_id: str) -> str | None:
    """Delete an app with its versions and files; artifacts TUF lists leave TUF first
    (by a task, whose id is returned), as ``/artifact/delete`` does.

    Like :func:`delete_artifacts` it holds the admin's registry lock, refuses (409)
    when a queued TUF task will touch one of the app's paths, and claims the listed
    paths for the removal task in the same transaction as the row deletion.
    """
    removal = _Removal(services, admin)
    async with hold_lock(services.state, tenant_keys.registry_lock(admin)):
        async with removal.transaction() as session:
            app = await queries.get_app_by_id(session, owner_id, app_id)
            if app is None:
                raise RegistryError(404, "App not found")
            require_app(app.name)
            versions = await queries.versions_of_app(session, app.id)
            paths = [a.tuf_path for v in versions for a in v.artifacts]
            app_name = app.name
            in_tuf = await _to_remove_from_tuf(services, session, admin, app_name, paths)
            for version in versions:
                await session.delete(version)
            await session.delete(app)
            await removal.claim(session, app_name, in_tuf, version_id="")
        await _delete_unsigned(services, paths, in_tuf)
    return await removal.queue()


async def _to_remove_from_tuf(
    services: TaskContext, session: AsyncSession, admin: str, app_name: str, paths: list[str]
) -> list[str]:
    """409 when a queued TUF task will touch one of ``paths``; else those a removal
    task must take out of TUF before their files go: the ones the published metadata
    lists, and those marked signed.

    What clients are told decides, not the row's mark alone: a crash between a
    publish and the writing of its marks (docs/design.md, invariant 9) leaves a
    listed path marked unsigned, and deleting its file plainly would break every
    client's download of it
    (https://theupdateframework.github.io/specification/latest/#fetch-target).
    """
    refuse_claimed(await queries.claims_on(session, paths))
    signed = await queries.signed_among(session, paths)
    try:
        listed = await listed_entries(services.tuf.repo(admin, app_name), paths)
    except DeserializationError:
        raise RegistryError(
            409,
            f"The published TUF metadata of app {app_name!r} cannot be read, so no path "
            "it may list can be deleted; recover the repository first",
        ) from None
    return [p for p in paths if p in listed or p in signed]


async def _delete_unsigned(
    services: TaskContext, paths: list[str], signed_paths: list[str]
) -> None:
    """Delete the files of deleted artifacts that TUF neither lists nor marks signed
    (caller holds the registry lock)."""
    for path in paths:
        if path not in signed_paths:
            await delete_file_unless_owned(services, path)


async def _record_removal(
    services: TaskContext,
    admin: str,
    app_name: str,
    signed_paths: list[str],
    removal_id: str,
    *,
    version_id: str,
) -> list[TaskRecord]:
    """Write the PENDING record of the removal of ``signed_paths`` (task ``removal_id``,
    which claims them) inside the deletion's transaction, before it commits.

    A process killed after the commit thus leaves a task that the restart (or the
    stale-task pass) runs, never claims without a task: the start-up sweep would
    drop those, and TUF would go on listing a path that has no registry row and
    no claim, which a re-upload could then overwrite. Killed before the commit,
    the task finds none of its claims and does nothing.
    """
    if not signed_paths:
        return []
    params = {"paths": signed_paths, "version_id": version_id, "delete_files": True}
    return [
        await services.records.create(TaskName.REMOVE, admin, app_name, params, task_id=removal_id)
    ]


@dataclass
class _Removal:
    """The TUF removal a deletion starts for its signed paths: task ``task_id``, whose
    PENDING record (``records``) is written in the deletion's transaction."""

    services: TaskContext
    admin: str
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    records: list[TaskRecord] = field(default_factory=list)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """The deletion's transaction; the removal's record goes again when it fails."""
        try:
            async with self.services.sessions.begin() as session:
                yield session
        except BaseException:
            for record in self.records:
                await self.services.records.delete(record.task_id)
            raise

    async def claim(
        self, session: AsyncSession, app_name: str, signed_paths: list[str], *, version_id: str
    ) -> None:
        """Claim ``signed_paths`` for the removal task and write its record."""
        await run_in_session(session, queries.insert_claims, signed_paths, self.task_id)
        self.records += await _record_removal(
            self.services, self.admin, app_name, signed_paths, self.task_id, version_id=version_id
        )

    async def queue(self) -> str | None:
        """Queue the committed deletion's removal task; return its id (None: nothing
        signed)."""
        if not self.records:
            return None
        await queue_created(self.services, self.records[0])
        return self.records[0].task_id


def refuse_claimed(claimed: dict[str, str]) -> None:
    """409 when a queued TUF task will touch one of the paths."""
    for path, task_id in sorted(claimed.items()):
        raise RegistryError(
            409,
            f"Artifact {path} is being published to or removed from TUF by task {task_id}; "
            "try again when that task has finished",
        )


async def delete_file_unless_owned(services: TaskContext, path: str) -> bool:
    """Delete the file at ``path`` unless a registry row (a newer upload) owns it.

    Callers hold the admin's registry lock, so no upload lands in between.
    """
    async with services.reads() as session:
        if await queries.get_artifact_by_path(session, path) is not None:
            return False
    await services.storage.delete(path)
    return True
