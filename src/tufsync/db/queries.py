"""Registry queries, always scoped to one owner so tenants never see each other."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Connection,
    Insert,
    Table,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.expression import BindParameter, Executable

from tufsync.db.models import (
    ApiToken,
    App,
    Artifact,
    CatalogItem,
    TenantUsage,
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


async def signed_among(session: AsyncSession, paths: list[str]) -> list[str]:
    """The paths among ``paths`` whose artifact is marked TUF-signed (or awaiting an
    offline role's signatures: a draft lists it), read afresh.

    A deletion reads this after it found no claim on ``paths``: a batch marks its rows
    and releases its claims in one transaction, so a claim read that misses a released
    claim is followed by a read that sees the mark (the ORM rows loaded before the
    claim read may predate it: on SQLite and at READ COMMITTED each statement sees
    its own snapshot)."""
    if not paths:
        return []
    rows = await session.execute(
        select(Artifact.tuf_path).where(
            Artifact.tuf_path.in_(paths),
            or_(Artifact.tuf_signed, Artifact.tuf_awaiting.is_not(None)),
        )
    )
    found = {str(p) for p in rows.scalars().all()}
    return [p for p in paths if p in found]


async def signed_under(session: AsyncSession, prefix: str) -> list[str]:
    """The paths under ``prefix`` whose artifact is marked TUF-signed."""
    rows = await session.execute(
        select(Artifact.tuf_path).where(
            Artifact.tuf_signed, Artifact.tuf_path.startswith(prefix, autoescape=True)
        )
    )
    return sorted(str(p) for p in rows.scalars().all())


async def awaiting_under(session: AsyncSession, prefix: str) -> dict[str, tuple[str, str]]:
    """Path -> (sha256, role) of the artifacts under ``prefix`` awaiting the signatures
    of an offline role's holders."""
    rows = await session.execute(
        select(Artifact.tuf_path, Artifact.sha256, Artifact.tuf_awaiting).where(
            Artifact.tuf_awaiting.is_not(None),
            Artifact.tuf_path.startswith(prefix, autoescape=True),
        )
    )
    return {str(p): (str(h), str(r)) for p, h, r in rows.all()}


async def artifacts_by_path(session: AsyncSession, paths: list[str]) -> dict[str, Artifact]:
    if not paths:
        return {}
    rows = await session.execute(select(Artifact).where(Artifact.tuf_path.in_(paths)))
    return {a.tuf_path: a for a in rows.scalars().all()}


# --- Uploads: Core statements on one connection, one transaction per upload --------------
# The upload route runs for every artifact a tenant ships, so it avoids the ORM's unit
# of work (identity map, flush planning, re-reads) and builds each statement once:
# building a SQLAlchemy statement (coercion, cache key) costs more CPU than running it.
# They are plain functions on a sync ``Connection``: the caller runs them all in one
# ``AsyncConnection.run_sync`` (one greenlet for the whole write, not one per statement).

_APPS: Table = App.__table__  # type: ignore[assignment]
_VERSIONS: Table = Version.__table__  # type: ignore[assignment]
_ARTIFACTS: Table = Artifact.__table__  # type: ignore[assignment]
_CATALOG: Table = CatalogItem.__table__  # type: ignore[assignment]
_CLAIMS: Table = TufClaim.__table__  # type: ignore[assignment]
CATALOG_KINDS = ("channel", "platform", "arch")


@dataclass(frozen=True)
class UploadTarget:
    """What an upload finds of its app and version (None when absent)."""

    app_id: str | None
    version_id: str | None
    changelog: list[dict[str, str]]
    catalog_known: int


@dataclass(frozen=True)
class ExistingArtifact:
    sha256: str
    length: int
    tuf_signed: bool


def _upload_target_statement() -> Executable:
    """App, version and catalogue hits of an upload: one row, outer-joined."""
    one = select(literal(1).label("one")).subquery()
    known = select(func.count()).where(
        _CATALOG.c.owner_id == bindparam("owner_id"),
        _CATALOG.c.name != "",
        or_(
            *(
                and_(_CATALOG.c.kind == kind, _CATALOG.c.name == bindparam(kind))
                for kind in CATALOG_KINDS
            )
        ),
    )
    apps = one.outerjoin(
        _APPS, and_(_APPS.c.owner_id == bindparam("owner_id"), _APPS.c.name == bindparam("app"))
    )
    joined = apps.outerjoin(
        _VERSIONS,
        and_(
            _VERSIONS.c.app_id == _APPS.c.id,
            _VERSIONS.c.version == bindparam("version"),
            _VERSIONS.c.channel == bindparam("channel"),
        ),
    )
    return select(
        _APPS.c.id, _VERSIONS.c.id, _VERSIONS.c.changelog, known.scalar_subquery()
    ).select_from(joined)


def _path_states_statement() -> Executable:
    """Claims on, and artifacts at, the ``paths`` of an upload (one UNION ALL)."""
    paths: BindParameter[list[str]] = bindparam("paths", expanding=True)
    claims = select(
        _CLAIMS.c.tuf_path,
        _CLAIMS.c.task_id,
        null().label("sha256"),
        null().label("length"),
        null().label("tuf_signed"),
    ).where(_CLAIMS.c.tuf_path.in_(paths))
    artifacts = select(
        _ARTIFACTS.c.tuf_path,
        null().label("task_id"),
        _ARTIFACTS.c.sha256,
        _ARTIFACTS.c.length,
        # A row awaiting an offline role's signatures is listed by its draft: it may no
        # more be overwritten than a signed one.
        or_(_ARTIFACTS.c.tuf_signed, _ARTIFACTS.c.tuf_awaiting.is_not(None)).label("tuf_signed"),
    ).where(_ARTIFACTS.c.tuf_path.in_(paths))
    return union_all(claims, artifacts)


_UPLOAD_TARGET = _upload_target_statement()
_PATH_STATES = _path_states_statement()
_INSERT_APP = insert(_APPS)
_INSERT_VERSION = insert(_VERSIONS)
_INSERT_ARTIFACT = insert(_ARTIFACTS)
_UPDATE_VERSION = (
    update(_VERSIONS)
    .where(_VERSIONS.c.id == bindparam("b_id"))
    .values(
        published=or_(_VERSIONS.c.published, bindparam("b_published", type_=Boolean)),
        critical=or_(_VERSIONS.c.critical, bindparam("b_critical", type_=Boolean)),
        intermediate=or_(_VERSIONS.c.intermediate, bindparam("b_intermediate", type_=Boolean)),
        updated_at=bindparam("b_now", type_=_VERSIONS.c.updated_at.type),
    )
)
_SET_CHANGELOG = (
    update(_VERSIONS)
    .where(_VERSIONS.c.id == bindparam("b_id"))
    .values(changelog=bindparam("b_changelog", type_=_VERSIONS.c.changelog.type))
)
_TOUCH_APP = (
    update(_APPS)
    .where(_APPS.c.id == bindparam("b_id"))
    .values(updated_at=bindparam("b_now", type_=_APPS.c.updated_at.type))
)


def upload_target(
    conn: Connection,
    owner_id: int,
    app_name: str,
    version: str,
    channel: str,
    catalog: dict[str, str],
) -> UploadTarget:
    """The owner's app ``app_name``, its ``version`` in ``channel`` and how many of the
    non-empty ``catalog`` values (kind → name) the owner already has, in one statement."""
    params = {"owner_id": owner_id, "app": app_name, "version": version, "channel": channel}
    params.update({kind: catalog.get(kind, "") for kind in CATALOG_KINDS})
    row = conn.execute(_UPLOAD_TARGET, params).one()
    changelog = row[2] if isinstance(row[2], list) else []
    return UploadTarget(row[0], row[1], changelog, int(row[3]))


def upload_path_states(
    conn: Connection, paths: list[str]
) -> tuple[dict[str, str], dict[str, ExistingArtifact]]:
    """Claims on ``paths`` (path → task id) and the artifacts already at them, in one
    statement."""
    claimed: dict[str, str] = {}
    existing: dict[str, ExistingArtifact] = {}
    for path, task_id, sha256, length, signed in conn.execute(_PATH_STATES, {"paths": paths}):
        if task_id is not None:
            claimed[str(path)] = str(task_id)
        else:
            existing[str(path)] = ExistingArtifact(str(sha256), int(str(length)), bool(signed))
    return claimed, existing


def insert_app(conn: Connection, owner_id: int, name: str) -> str:
    app_id = new_id()
    conn.execute(_INSERT_APP, {"id": app_id, "owner_id": owner_id, "name": name})
    return app_id


def insert_version(conn: Connection, values: dict[str, object]) -> str:
    """Insert a version row (``values`` without its id); return the new id."""
    version_id = new_id()
    conn.execute(_INSERT_VERSION, {"id": version_id, **values})
    return version_id


def update_version(
    conn: Connection,
    version_id: str,
    *,
    published: bool,
    critical: bool,
    intermediate: bool,
    changelog: list[dict[str, str]] | None,
) -> None:
    """Raise (never lower) the version's flags, set ``updated_at`` and, when given,
    the changelog."""
    params = {
        "b_id": version_id,
        "b_published": published,
        "b_critical": critical,
        "b_intermediate": intermediate,
        "b_now": utcnow(),
    }
    conn.execute(_UPDATE_VERSION, params)
    if changelog is not None:
        conn.execute(_SET_CHANGELOG, {"b_id": version_id, "b_changelog": changelog})


def touch_app(conn: Connection, app_id: str) -> None:
    conn.execute(_TOUCH_APP, {"b_id": app_id, "b_now": utcnow()})


def insert_artifacts(conn: Connection, rows: list[dict[str, object]]) -> None:
    """Insert artifact rows (one statement; a path taken meanwhile raises IntegrityError)."""
    if rows:
        conn.execute(_INSERT_ARTIFACT, rows)


def _insert_ignoring_conflicts(dialect: str, table: Table) -> Insert:
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def add_catalog_items(conn: Connection, owner_id: int, catalog: dict[str, str]) -> None:
    """Add the non-empty catalogue values (kind → name) the owner lacks; entries that
    exist (or that a concurrent request adds) are left alone."""
    rows = [
        {"id": new_id(), "owner_id": owner_id, "kind": kind, "name": name, "updaters": []}
        for kind, name in catalog.items()
        if name
    ]
    if rows:
        conn.execute(_insert_ignoring_conflicts(conn.dialect.name, _CATALOG), rows)


# --- Publishing: one SELECT and one INSERT on one connection, under the registry lock -----
# Like the upload statements above: built once, run by the caller in one
# ``AsyncConnection.run_sync`` (see tufsync.registry.publish).


@dataclass(frozen=True)
class PublishRow:
    """One row of :func:`publish_rows`: a version row and one of its unsigned artifacts."""

    version_id: str
    app_id: str
    app_name: str
    tuf_path: str | None  # None: the version row has no unsigned artifact
    length: int | None
    sha256: str | None
    sha512: str | None
    claimed_by: str | None  # the task that claims ``tuf_path``, if any


def _publish_rows_statement() -> Executable:
    """Version rows of one version named by app id or version id, owner-scoped, with
    their unsigned artifacts and the claims on those artifacts' paths."""
    named: BindParameter[str] = bindparam("app_id")
    joined = (
        _VERSIONS.join(_APPS, _VERSIONS.c.app_id == _APPS.c.id)
        .outerjoin(
            _ARTIFACTS,
            and_(_ARTIFACTS.c.version_id == _VERSIONS.c.id, _ARTIFACTS.c.tuf_signed == false()),
        )
        .outerjoin(_CLAIMS, _CLAIMS.c.tuf_path == _ARTIFACTS.c.tuf_path)
    )
    return (
        select(
            _VERSIONS.c.id,
            _VERSIONS.c.app_id,
            _APPS.c.name,
            _ARTIFACTS.c.tuf_path,
            _ARTIFACTS.c.length,
            _ARTIFACTS.c.sha256,
            _ARTIFACTS.c.sha512,
            _CLAIMS.c.task_id,
        )
        .select_from(joined)
        .where(
            _APPS.c.owner_id == bindparam("owner_id"),
            _VERSIONS.c.version == bindparam("version"),
            or_(_VERSIONS.c.app_id == named, _VERSIONS.c.id == named),
        )
        .order_by(_VERSIONS.c.channel, _ARTIFACTS.c.id)
    )


_PUBLISH_ROWS = _publish_rows_statement()
_INSERT_CLAIMS = insert(_CLAIMS)


def publish_rows(conn: Connection, owner_id: int, app_id: str, version: str) -> list[PublishRow]:
    """The owner's rows of ``version`` whose app id or version id is ``app_id`` (one
    per channel, ordered by channel), each with its unsigned artifacts (by id) and the
    claim on each artifact's path, in one statement.

    A version row without unsigned artifacts appears once with ``tuf_path`` None.
    """
    params = {"owner_id": owner_id, "app_id": app_id, "version": version}
    return [PublishRow(*row) for row in conn.execute(_PUBLISH_ROWS, params)]


def insert_claims(conn: Connection, paths: list[str], task_id: str) -> None:
    """Claim ``paths`` for ``task_id`` in one statement (a path claimed meanwhile fails it)."""
    if paths:
        now = utcnow()
        rows = [{"tuf_path": p, "task_id": task_id, "created_at": now} for p in paths]
        conn.execute(_INSERT_CLAIMS, rows)


# ---------------------------------------------------------------------------
# The worker's batch: the registry writes of one landed metadata
# change, prebuilt statements run as one sync function in one transaction
# (``Services.transactions.run``, see tufsync.tasks.handlers).

_USERS: Table = User.__table__  # type: ignore[assignment]

_MARK_SIGNED = (
    update(_ARTIFACTS)
    .where(_ARTIFACTS.c.tuf_path == bindparam("b_path"), _ARTIFACTS.c.sha256 == bindparam("b_sha"))
    .values(tuf_signed=True, tuf_task_id=bindparam("b_task"), tuf_awaiting=None)
)
_MARK_UNSIGNED = (
    update(_ARTIFACTS)
    .where(_ARTIFACTS.c.tuf_path.in_(bindparam("paths", expanding=True)))
    .values(tuf_signed=False, tuf_task_id=None, tuf_awaiting=None)
)
_MARK_AWAITING = (
    update(_ARTIFACTS)
    .where(
        _ARTIFACTS.c.tuf_path == bindparam("b_path"),
        _ARTIFACTS.c.sha256 == bindparam("b_sha"),
        _ARTIFACTS.c.tuf_signed.is_(False),
    )
    .values(tuf_awaiting=bindparam("b_role"), tuf_task_id=bindparam("b_task"))
)
_RELEASE_CLAIMS = delete(_CLAIMS).where(
    _CLAIMS.c.task_id.in_(bindparam("task_ids", expanding=True))
)
_USER_ID = select(_USERS.c.id).where(_USERS.c.username == bindparam("username"))


def mark_signed(conn: Connection, signed: list[tuple[str, str, str]]) -> None:
    """Mark signed, in one statement, the rows of one or several tasks: ``signed`` lists
    (path, sha256, task id); each row is marked only for the bytes that were signed."""
    if signed:
        conn.execute(_MARK_SIGNED, [{"b_path": p, "b_sha": h, "b_task": t} for p, h, t in signed])


def mark_awaiting(conn: Connection, awaiting: list[tuple[str, str, str, str]]) -> None:
    """Mark awaiting the signatures of an offline role's holders the unsigned rows of
    ``awaiting`` (path, sha256, task id, role), for the bytes the role's draft lists."""
    if awaiting:
        conn.execute(
            _MARK_AWAITING,
            [{"b_path": p, "b_sha": h, "b_task": t, "b_role": r} for p, h, t, r in awaiting],
        )


def mark_unsigned(conn: Connection, paths: list[str]) -> None:
    """Clear ``tuf_signed`` of the artifacts at ``paths`` (removed from TUF)."""
    if paths:
        conn.execute(_MARK_UNSIGNED, {"paths": paths})


def release_claims(conn: Connection, task_ids: list[str]) -> None:
    """Drop every claim of ``task_ids`` (their tasks ended)."""
    if task_ids:
        conn.execute(_RELEASE_CLAIMS, {"task_ids": task_ids})


def reassign_claims(conn: Connection, paths: list[str], task_id: str) -> None:
    """Hand the claims on ``paths`` to ``task_id`` (a task taking over a lost one's work)."""
    if paths:
        conn.execute(update(_CLAIMS).where(_CLAIMS.c.tuf_path.in_(paths)).values(task_id=task_id))


def user_id(conn: Connection, username: str) -> int | None:
    """The id of the account ``username``, or None."""
    return conn.execute(_USER_ID, {"username": username}).scalar_one_or_none()


_USAGE: Table = TenantUsage.__table__  # type: ignore[assignment]
_STORED_BYTES = select(_USAGE.c.stored_bytes).where(_USAGE.c.owner_id == bindparam("owner_id"))


def stored_bytes(conn: Connection, owner_id: int) -> int:
    """Bytes of artifacts the owner has stored (what the storage quota counts): one
    primary-key read of the total that triggers keep (migration 0007)."""
    return int(conn.execute(_STORED_BYTES, {"owner_id": owner_id}).scalar_one_or_none() or 0)
