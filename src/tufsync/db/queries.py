"""Registry queries, always scoped to one owner so tenants never see each other."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tufsync.db.models import App, Artifact, User, Version, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


async def get_user(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def username_taken(session: AsyncSession, username: str) -> bool:
    """True when an account exists whose name equals ``username`` ignoring case."""
    found = await session.execute(
        select(User.id).where(func.lower(User.username) == username.lower()).limit(1)
    )
    return found.first() is not None


async def get_app(session: AsyncSession, owner_id: int, name: str) -> App | None:
    return (
        await session.execute(select(App).where(App.owner_id == owner_id, App.name == name))
    ).scalar_one_or_none()


async def list_apps(session: AsyncSession, owner_id: int) -> Sequence[App]:
    return (
        (await session.execute(select(App).where(App.owner_id == owner_id).order_by(App.name)))
        .scalars()
        .all()
    )


async def get_version(session: AsyncSession, owner_id: int, version_id: str) -> Version | None:
    stmt = (
        select(Version)
        .join(App, Version.app_id == App.id)
        .where(Version.id == version_id, App.owner_id == owner_id)
        .options(selectinload(Version.artifacts))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_version(
    session: AsyncSession, app_id: str, version: str, channel: str
) -> Version | None:
    """The version row alone (its artifacts are not loaded)."""
    stmt = select(Version).where(
        Version.app_id == app_id, Version.version == version, Version.channel == channel
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_artifact_by_path(session: AsyncSession, tuf_path: str) -> Artifact | None:
    return (
        await session.execute(select(Artifact).where(Artifact.tuf_path == tuf_path))
    ).scalar_one_or_none()


async def search_versions(
    session: AsyncSession,
    owner_id: int,
    *,
    app_name: str | None,
    channel: str | None,
    platform: str | None,
    arch: str | None,
    published: bool | None,
    limit: int,
) -> Sequence[Version]:
    stmt = select(Version).join(App, Version.app_id == App.id).where(App.owner_id == owner_id)
    if app_name:
        stmt = stmt.where(App.name == app_name)
    if channel:
        stmt = stmt.where(Version.channel == channel)
    if published is not None:
        stmt = stmt.where(Version.published == published)
    if platform or arch:
        sub = select(Artifact.version_id)
        if platform:
            sub = sub.where(Artifact.platform == platform)
        if arch:
            sub = sub.where(Artifact.arch == arch)
        stmt = stmt.where(Version.id.in_(sub))
    stmt = (
        stmt.order_by(Version.updated_at.desc())
        .limit(limit)
        .options(selectinload(Version.artifacts))
    )
    return (await session.execute(stmt)).scalars().all()


async def mark_signed(session: AsyncSession, signed: dict[str, tuple[str, bool]]) -> None:
    """Set ``tuf_signed`` by target path; ``signed`` maps path → (sha256, flag).

    The sha256 guard makes sure a row is only marked for the bytes that were signed.
    """
    if not signed:
        return
    table: Table = Artifact.__table__  # type: ignore[assignment]
    statement = (
        update(table)
        .where(table.c.tuf_path == bindparam("b_path"), table.c.sha256 == bindparam("b_sha256"))
        .values(tuf_signed=bindparam("b_flag"))
    )
    rows = [{"b_path": p, "b_sha256": h, "b_flag": f} for p, (h, f) in signed.items()]
    await session.execute(statement, rows)


async def mark_unsigned(session: AsyncSession, paths: list[str]) -> None:
    """Clear ``tuf_signed`` of the artifacts at ``paths`` (removed from TUF)."""
    if paths:
        await session.execute(
            update(Artifact).where(Artifact.tuf_path.in_(paths)).values(tuf_signed=False)
        )


def touch(row: App | Version) -> None:
    row.updated_at = utcnow()
