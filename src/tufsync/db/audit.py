"""The audit trail in the registry database: writing events, reading them, forgetting them.

Every change to a repository's trust is one row of ``audit_events``, scoped to
its owner (``users.id``) and app name. Rows are read only through the owner's
id, so another admin sees exactly what a missing app shows, and they stay
until the app is deleted (:func:`forget_app`) or its owner goes (cascade).

Details carry only public facts: event kinds and detail fields are closed
sets (:data:`EVENT_KINDS`, :data:`DETAIL_FIELDS`), values are plain JSON
scalars, lists and objects. Key material, signature bytes, tokens and
passwords have no field to go in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tufsync.db.models import AuditEvent, utcnow
from tufsync.db.queries import user_id
from tufsync.db.transactions import run_in_session

log = logging.getLogger(__name__)

EVENT_KINDS = frozenset(
    {
        "bootstrap",
        "root_rotation_posted",
        "root_published",
        "signature_added",
        "signing_finalized",
        "signing_cancelled",
        "delegated_rotation_posted",
        "delegated_published",
        "config_changed",
        "forced_update",
        "recovery",
        "artifacts_published",
        "artifacts_removed",
        "online_key_created",
        "online_key_deleted",
        "online_key_expired",
    }
)
DETAIL_FIELDS = frozenset(
    {
        "added_keyids",
        "complete",
        "expiration",
        "keyid",
        "mode",
        "online_keyids",
        "paths",
        "progress",
        "removed_keyids",
        "role",
        "roles",
        "root_keyids",
        "root_threshold",
        "version",
        "version_id",
        "versions",
    }
)
MAX_PAGE_SIZE = 500


class AuditDetailError(ValueError):
    """Details that do not fit the audit trail's closed set of public fields."""


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def checked_details(event: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` if the event kind is known and every field is a public one."""
    if event not in EVENT_KINDS:
        raise AuditDetailError(f"unknown audit event {event!r}")
    unknown = sorted(set(details) - DETAIL_FIELDS)
    if unknown:
        raise AuditDetailError(f"audit details may not carry {unknown}")
    if not _plain(dict(details)):
        raise AuditDetailError("audit details must be plain JSON values")
    return dict(details)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time: datetime
    event: str
    actor: str
    task_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class NewEvent:
    """One event for :func:`add_many`."""

    app: str
    event: str
    actor: str
    task_id: str | None
    details: Mapping[str, Any]


_INSERT_EVENTS = insert(AuditEvent)


def add_many(conn: Connection, owner_id: int, events: list[NewEvent]) -> None:
    """Add several events of one owner in the caller's transaction, as one
    statement (a batch of publish tasks writes one event per task)."""
    rows = [
        {
            "owner_id": owner_id,
            "app": e.app,
            "event": e.event,
            "actor": e.actor,
            "task_id": e.task_id,
            "details": checked_details(e.event, e.details),
            "created_at": utcnow(),
        }
        for e in events
    ]
    if rows:
        conn.execute(_INSERT_EVENTS, rows)


async def record(
    sessions: async_sessionmaker[AsyncSession],
    owner: int | str,
    app: str,
    event: str,
    *,
    actor: str | None = None,
    task_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> bool:
    """Write one event in its own transaction; ``owner`` is a user id or username (then
    also the actor unless one is given). The change it describes has already happened,
    so a database failure is logged (not raised); returns whether it landed."""
    new = NewEvent(app, event, actor or "", task_id, details or {})
    try:
        async with sessions.begin() as session:
            await run_in_session(session, _add_one, owner, new)
    except (SQLAlchemyError, OSError, AuditDetailError):
        log.exception("audit event %s of %s could not be recorded", event, app)
        return False
    return True


def _add_one(conn: Connection, owner: int | str, new: NewEvent) -> None:
    if isinstance(owner, int):
        add_many(conn, owner, [new])
        return
    owner_id = user_id(conn, owner)
    if owner_id is None:
        raise AuditDetailError(f"no account {owner!r} to record {new.event!r} for")
    add_many(conn, owner_id, [replace(new, actor=new.actor or owner)])


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def page(
    session: AsyncSession, owner_id: int, app: str, number: int, size: int
) -> tuple[list[AuditEntry], int]:
    """Page ``number`` (from 1) of the app's events, newest first, and the total count."""
    scope = (AuditEvent.owner_id == owner_id, AuditEvent.app == app)
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(*scope))
    rows = (
        await session.execute(
            select(AuditEvent)
            .where(*scope)
            .order_by(AuditEvent.id.desc())
            .offset((number - 1) * size)
            .limit(size)
        )
    ).scalars()
    entries = [
        AuditEntry(r.id, _aware(r.created_at), r.event, r.actor, r.task_id, dict(r.details))
        for r in rows
    ]
    return entries, int(total or 0)


async def forget_app(session: AsyncSession, owner_id: int, app: str) -> None:
    """Drop the app's trail (the app is being deleted)."""
    await session.execute(
        delete(AuditEvent).where(AuditEvent.owner_id == owner_id, AuditEvent.app == app)
    )


async def withdraw(
    sessions: async_sessionmaker[AsyncSession], owner_id: int, event: str, task_id: str
) -> None:
    """Remove the event written for a task that was then not accepted."""
    try:
        async with sessions.begin() as session:
            await session.execute(
                delete(AuditEvent).where(
                    AuditEvent.owner_id == owner_id,
                    AuditEvent.event == event,
                    AuditEvent.task_id == task_id,
                )
            )
    except (SQLAlchemyError, OSError):
        log.exception("audit event %s of task %s could not be withdrawn", event, task_id)
