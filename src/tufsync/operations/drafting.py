"""Staging drafts for signing as part of accepting a task: the drafts they replace
come back if the task is not accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from tufsync.operations.accept import Acceptance
from tufsync.state.locks import hold_lock
from tufsync.tuf.drafts import Draft, DraftStore
from tufsync.tuf.repository import Repository

DRAFT_LOCK_SECONDS = 30


@asynccontextmanager
async def drafts_locked(repo: Repository) -> AsyncIterator[DraftStore]:
    """The repository's drafts, held against other requests staging drafts."""
    store = DraftStore(repo)
    async with hold_lock(
        repo.state, store.lock_name, ttl=DRAFT_LOCK_SECONDS, wait=DRAFT_LOCK_SECONDS
    ):
        yield store


async def replace_drafts(
    acceptance: Acceptance, store: DraftStore, replaced: Sequence[str], drafts: Sequence[Draft]
) -> None:
    """Drop the drafts of the ``replaced`` roles and save ``drafts`` (the caller holds
    :func:`drafts_locked`); undone when the task is not accepted."""
    previous = await store.all(list(replaced))
    for role in previous:
        await store.delete(role)
    for draft in drafts:
        await store.save(draft)

    async def restore() -> None:
        for draft in drafts:
            await store.delete(draft.role)
        for old in previous.values():
            await store.save(old)

    acceptance.on_failure(restore)
