"""Registry queries, always scoped to one owner so tenants never see each other."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tufsync.db.models import (
    ApiToken,
    App,
    Artifact,
    CatalogItem,
    TufClaim,
    User,
    Version,
    utcnow,
)


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


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def get_user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_api_token(session: AsyncSession, token_hash: str) -> tuple[ApiToken, User] | None:
    stmt = (
        select(ApiToken, User)
        .join(User, ApiToken.owner_id == User.id)
        .where(ApiToken.token_hash == token_hash)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


async def list_api_tokens(session: AsyncSession, owner_id: int) -> Sequence[ApiToken]:
    stmt = (
        select(ApiToken)
        .where(ApiToken.owner_id == owner_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def app_names_by_id(session: AsyncSession, owner_id: int, app_ids: list[str]) -> list[str]:
    """Names of the owner's apps among ``app_ids`` (unknown or foreign ids are skipped)."""
    if not app_ids:
        return []
    stmt = select(App.name).where(App.owner_id == owner_id, App.id.in_(app_ids))
    return list((await session.execute(stmt)).scalars().all())


async def app_ids_owned(session: AsyncSession, owner_id: int, app_ids: list[str]) -> list[str]:
    """Those of ``app_ids`` that are apps of this owner."""
    if not app_ids:
        return []
    stmt = select(App.id).where(App.owner_id == owner_id, App.id.in_(app_ids))
    return list((await session.execute(stmt)).scalars().all())


async def delete_api_token(session: AsyncSession, owner_id: int, token_id: str) -> bool:
    """Delete the owner's token; False when there is none with that id."""
    result = await session.execute(
        delete(ApiToken).where(ApiToken.owner_id == owner_id, ApiToken.id == token_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def get_app_by_id(session: AsyncSession, owner_id: int, app_id: str) -> App | None:
    return (
        await session.execute(select(App).where(App.owner_id == owner_id, App.id == app_id))
    ).scalar_one_or_none()


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


async def app_versions(
    session: AsyncSession, owner_id: int, app_id: str, version: str
) -> Sequence[Version]:
    """The owner's rows of ``version`` of the app ``app_id`` (one per channel), with artifacts."""
    stmt = (
        select(Version)
        .join(App, Version.app_id == App.id)
        .where(Version.app_id == app_id, Version.version == version, App.owner_id == owner_id)
        .options(selectinload(Version.artifacts))
        .order_by(Version.channel)
    )
    return (await session.execute(stmt)).scalars().all()


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
    app_names: frozenset[str] | None,
    filters: VersionFilters,
    page: int,
    limit: int,
) -> tuple[Sequence[Version], int]:
    """One page of the owner's versions (newest first) and the number of matches.

    ``app_names`` (an API token's scope) limits the search to those apps.
    """
    stmt = select(Version).join(App, Version.app_id == App.id).where(App.owner_id == owner_id)
    if app_names is not None:
        stmt = stmt.where(App.name.in_(sorted(app_names)))
    if filters.app_name:
        stmt = stmt.where(App.name == filters.app_name)
    if filters.channel:
        stmt = stmt.where(Version.channel == filters.channel)
    if filters.published is not None:
        stmt = stmt.where(Version.published == filters.published)
    if filters.critical is not None:
        stmt = stmt.where(Version.critical == filters.critical)
    if filters.platform or filters.arch:
        sub = select(Artifact.version_id)
        if filters.platform:
            sub = sub.where(Artifact.platform == filters.platform)
        if filters.arch:
            sub = sub.where(Artifact.arch == filters.arch)
        stmt = stmt.where(Version.id.in_(sub))
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    stmt = (
        stmt.order_by(Version.updated_at.desc(), Version.id)
        .offset((page - 1) * limit)
        .limit(limit)
        .options(selectinload(Version.artifacts))
    )
    return (await session.execute(stmt)).scalars().all(), int(total)


@dataclass(frozen=True)
class VersionFilters:
    app_name: str | None = None
    channel: str | None = None
    platform: str | None = None
    arch: str | None = None
    published: bool | None = None
    critical: bool | None = None


async def list_catalog(session: AsyncSession, owner_id: int, kind: str) -> Sequence[CatalogItem]:
    stmt = (
        select(CatalogItem)
        .where(CatalogItem.owner_id == owner_id, CatalogItem.kind == kind)
        .order_by(CatalogItem.name)
    )
    return (await session.execute(stmt)).scalars().all()


async def get_catalog_item(
    session: AsyncSession,
    owner_id: int,
    kind: str,
    *,
    item_id: str | None = None,
    name: str | None = None,
) -> CatalogItem | None:
    stmt = select(CatalogItem).where(CatalogItem.owner_id == owner_id, CatalogItem.kind == kind)
    if item_id is not None:
        stmt = stmt.where(CatalogItem.id == item_id)
    if name is not None:
        stmt = stmt.where(CatalogItem.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def catalog_value_in_use(session: AsyncSession, owner_id: int, kind: str, name: str) -> bool:
    """True when one of the owner's versions uses ``name`` as its channel/platform/arch."""
    stmt = select(Version.id).join(App, Version.app_id == App.id).where(App.owner_id == owner_id)
    if kind == "channel":
        stmt = stmt.where(Version.channel == name)
    else:
        column = Artifact.platform if kind == "platform" else Artifact.arch
        stmt = stmt.join(Artifact, Artifact.version_id == Version.id).where(column == name)
    return (await session.execute(stmt.limit(1))).first() is not None


async def versions_of_app(session: AsyncSession, app_id: str) -> Sequence[Version]:
    stmt = select(Version).where(Version.app_id == app_id).options(selectinload(Version.artifacts))
    return (await session.execute(stmt)).scalars().all()


async def mark_signed(
    session: AsyncSession, signed: dict[str, tuple[str, bool]], task_id: str | None = None
) -> None:
    """Set ``tuf_signed`` (and the signing task's id) by target path; ``signed`` maps
    path → (sha256, flag).

    The sha256 guard makes sure a row is only marked for the bytes that were signed.
    """
    if not signed:
        return
    table: Table = Artifact.__table__  # type: ignore[assignment]
    statement = (
        update(table)
        .where(table.c.tuf_path == bindparam("b_path"), table.c.sha256 == bindparam("b_sha256"))
        .values(tuf_signed=bindparam("b_flag"), tuf_task_id=task_id)
    )
    rows = [{"b_path": p, "b_sha256": h, "b_flag": f} for p, (h, f) in signed.items()]
    await session.execute(statement, rows)


async def mark_unsigned(session: AsyncSession, paths: list[str]) -> None:
    """Clear ``tuf_signed`` of the artifacts at ``paths`` (removed from TUF)."""
    if paths:
        await session.execute(
            update(Artifact)
            .where(Artifact.tuf_path.in_(paths))
            .values(tuf_signed=False, tuf_task_id=None)
        )


def touch(row: App | Version) -> None:
    row.updated_at = utcnow()


async def claims_on(session: AsyncSession, paths: list[str]) -> dict[str, str]:
    """Claimed paths among ``paths``: path → the task id that will touch it."""
    if not paths:
        return {}
    rows = await session.execute(
        select(TufClaim.tuf_path, TufClaim.task_id).where(TufClaim.tuf_path.in_(paths))
    )
    return {str(p): str(t) for p, t in rows.all()}


def add_claims(session: AsyncSession, paths: list[str], task_id: str) -> None:
    """Claim ``paths`` for ``task_id`` (a path claimed twice fails the flush)."""
    session.add_all(TufClaim(tuf_path=p, task_id=task_id) for p in paths)


async def release_claims(session: AsyncSession, task_ids: list[str]) -> None:
    """Drop every claim of ``task_ids`` (their tasks ended)."""
    if task_ids:
        await session.execute(delete(TufClaim).where(TufClaim.task_id.in_(task_ids)))


async def artifacts_by_path(session: AsyncSession, paths: list[str]) -> dict[str, Artifact]:
    if not paths:
        return {}
    rows = await session.execute(select(Artifact).where(Artifact.tuf_path.in_(paths)))
    return {a.tuf_path: a for a in rows.scalars().all()}
