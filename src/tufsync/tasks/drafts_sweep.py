"""Finishing signed drafts a crash left unpublished.

The signature that meets a draft's threshold is stored under the repository's
finalize marker (``tenant_keys.finalizing``, written first, under the signing
lock), which names the finalize task the request is about to accept; that task
removes the marker when it ends. A marker whose task has no record is work a
process died before accepting: the sweep accepts that same task (same id, so a
request still on its way and the sweep make one task) when the drafts it
publishes still meet their thresholds, and drops the marker otherwise. A marker
whose task is PENDING or STARTED is left alone: the restart (embedded) or the
stale-task pass (:mod:`tufsync.tasks.stale`) runs it. A marker whose task ended
is dropped (its FAILURE was the answer; the drafts stay signable).

Runs at start-up of the embedded mode, after unfinished tasks were resumed, and
in every periodic pass of :mod:`tufsync.tasks.scheduler`. Markers live in their
own scanned key space, so a pass reads only them, never the drafts of
repositories that have nothing to finish.
"""

from __future__ import annotations

import logging

from tufsync import tenant_keys
from tufsync.state.locks import hold_lock
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import FAILURE, SUCCESS
from tufsync.tasks.submit import submit_once
from tufsync.tuf.drafts import DraftStore
from tufsync.tuf.repository import Repository
from tufsync.tuf.signing_flow import incomplete_roles, pending, published_with

log = logging.getLogger(__name__)
# Markers handled per pass (each lives from a signature to its task's end, so only a
# burst of signatures or a long outage leaves more; the next pass takes the rest).
PASS_LIMIT = 500


async def sweep_signed_drafts(services: TaskContext, limit: int = PASS_LIMIT) -> list[str]:
    """Accept the finalize task of every signed draft left unpublished; return the
    ids of the tasks accepted."""
    keys = (await services.state.keys(tenant_keys.FINALIZE_PREFIX))[:limit]
    accepted: list[str] = []
    for key in keys:
        try:
            ref = tenant_keys.parse_finalizing(key)
        except ValueError as exc:
            log.warning("finalize sweep: dropping unreadable entry %r: %s", key, exc)
            await services.state.delete(key)
            continue
        try:
            task_id = await _finish(services, ref)
        except Exception:
            log.exception("finalize sweep: could not finish %s/%s", ref.admin, ref.app)
            continue
        if task_id is not None:
            accepted.append(task_id)
    return accepted


async def _finish(services: TaskContext, ref: tenant_keys.TenantRef) -> str | None:
    """Accept the marker's task if its drafts still need it, else drop the marker."""
    repo = services.tuf.repo(ref.admin, ref.app)
    store = DraftStore(repo)
    found = await store.finalizing()
    if found is None:
        return None
    raw, marker = found
    if marker is not None:
        record = await services.records.get(marker.task_id)
        if record is not None and record.state not in (SUCCESS, FAILURE):
            return None  # accepted and not finished: resumed or requeued, not lost
        if record is None:
            # Under the signing lock: a signature being stored writes its marker and its
            # draft inside that lock, so both or neither are seen here.
            async with hold_lock(repo.state, store.lock_name, ttl=30, wait=30):
                if await _still_complete(repo, marker.role):
                    await submit_once(
                        services,
                        TaskName.FINALIZE_SIGNING,
                        ref.admin,
                        ref.app,
                        {"role": marker.role},
                        marker.task_id,
                    )
                    log.warning(
                        "%s/%s: the %s draft met its threshold and was not published; "
                        "task %s publishes it",
                        ref.admin,
                        ref.app,
                        marker.role,
                        marker.task_id,
                    )
                    return marker.task_id
    await services.state.delete_if_equals(store.finalizing_key, raw)
    return None


async def _still_complete(repo: Repository, role: str) -> bool:
    """True when the drafts published with ``role``'s meet every threshold."""
    config = await repo.config()
    if config is None:
        return False
    drafts = await pending(repo, config)
    if role not in drafts:
        return False
    group = published_with(role, drafts)
    return bool(group) and not incomplete_roles(await repo.trusted(), drafts, group)
