"""Dropping claims on target paths whose task no longer runs, and taking over the
work of a lost removal.

A route claims paths, then hands the task to the queue; a crash in between
leaves claims no task will ever release. Claims whose task record is missing
or finished are dropped, so the paths can be uploaded or deleted again: at
start-up of the embedded mode (no request is being served yet) all of them,
and in every refresh pass (both modes) those older than ``min_age`` seconds,
which no request can still be about to queue.

A claim whose path has no registry row while the repository's published
metadata still lists it is a removal that did not finish: its task was lost
with the state store, or it failed after the deletion committed. Such claims
are not dropped but handed to a new removal task, so TUF stops listing a file
whose row is gone (a re-upload could otherwise replace what clients are told
to expect; see docs/compatibility.md).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from tufsync.db import queries
from tufsync.db.models import TufClaim, utcnow
from tufsync.names import owner_of_path
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import PENDING, STARTED
from tufsync.tasks.submit import queue_created
from tufsync.tuf.listing import listed_entries

log = logging.getLogger(__name__)


async def _claims(services: TaskContext, min_age: float) -> dict[str, str]:
    """path → task id of the claims older than ``min_age`` seconds (all when 0)."""
    query = select(TufClaim.tuf_path, TufClaim.task_id)
    if min_age > 0:
        query = query.where(TufClaim.created_at < utcnow() - timedelta(seconds=min_age))
    async with services.reads() as session:
        return {str(p): str(t) for p, t in (await session.execute(query)).all()}


async def sweep_orphan_claims(services: TaskContext, min_age: float = 0.0) -> int:
    """Release claims of tasks that are not PENDING or STARTED (or hand those of an
    unfinished removal to a new removal task); return how many tasks."""
    claims = await _claims(services, min_age)
    task_ids = sorted(set(claims.values()))
    if not task_ids:
        return 0
    live = {
        r.task_id
        for r in await services.records.get_many(task_ids)
        if r.state in (PENDING, STARTED)
    }
    orphans = [t for t in task_ids if t not in live]
    if orphans:
        orphaned = sorted(p for p, t in claims.items() if t not in live)
        await _resume_removals(services, orphaned)
        await _unsign_unlisted(services, orphaned)
        await services.transactions.run(queries.release_claims, orphans)
        log.warning("released path claims of %d ended or lost task(s)", len(orphans))
    return len(orphans)


async def _unfinished_removals(
    services: TaskContext, paths: list[str]
) -> dict[tuple[str, str], list[str]]:
    """(admin, app) → the claimed paths that have no registry row and are still listed."""
    async with services.reads() as session:
        rows = await queries.artifacts_by_path(session, paths)
    by_repo: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in paths:
        owner = owner_of_path(path)
        if owner is not None and path not in rows:
            by_repo[owner].append(path)
    found: dict[tuple[str, str], list[str]] = {}
    for (admin, app), repo_paths in by_repo.items():
        try:
            listed = sorted(await listed_entries(services.tuf.repo(admin, app), repo_paths))
        except Exception:  # unreadable metadata: a removal task tries again, and reports
            log.exception("could not read the published metadata of %s/%s", admin, app)
            listed = repo_paths
        if listed:
            found[(admin, app)] = listed
    return found


async def _unsign_unlisted(services: TaskContext, paths: list[str]) -> None:
    """Mark unsigned the rows among ``paths`` (claimed by lost tasks) marked signed that
    the published metadata no longer lists: a removal from TUF lost after its change
    was published but before its marks were written (docs/design.md invariant 9).
    A listed path marked unsigned (a publish lost the same way) needs nothing here:
    deletions and uploads decide from what TUF lists, and publishing it again marks it."""
    async with services.reads() as session:
        rows = await queries.artifacts_by_path(session, paths)
    by_repo: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path, row in rows.items():
        owner = owner_of_path(path)
        if owner is not None and row.tuf_signed:
            by_repo[owner].append(path)
    unsigned: list[str] = []
    for (admin, app), repo_paths in by_repo.items():
        try:
            listed = await listed_entries(services.tuf.repo(admin, app), repo_paths)
        except Exception:  # unreadable metadata: leave the marks for a later pass
            log.exception("could not read the published metadata of %s/%s", admin, app)
            continue
        unsigned += [path for path in repo_paths if path not in listed]
    if unsigned:
        await services.transactions.run(queries.mark_unsigned, unsigned)
        log.warning("%d row(s) of lost tasks unsigned: TUF no longer lists them", len(unsigned))


async def _resume_removals(services: TaskContext, paths: list[str]) -> None:
    """Hand the claims of unfinished removals to new removal tasks (one per repository)."""
    for (admin, app), repo_paths in (await _unfinished_removals(services, paths)).items():
        task_id = str(uuid.uuid4())
        params = {"paths": repo_paths, "version_id": None, "delete_files": True}
        record = await services.records.create(TaskName.REMOVE, admin, app, params, task_id=task_id)
        await services.transactions.run(queries.reassign_claims, repo_paths, task_id)
        log.warning(
            "%d path(s) of %s/%s are still listed by TUF with no registry row; "
            "task %s removes them",
            len(repo_paths),
            admin,
            app,
            task_id,
        )
        await queue_created(services, record)
