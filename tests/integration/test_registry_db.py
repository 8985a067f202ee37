"""Registry models, migrations and queries on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.scaleout import _admin as pg_admin
from tufsync.db import engine as db_engine
from tufsync.db import queries
from tufsync.db.models import App, Artifact, User, Version


@pytest.fixture(params=["sqlite", "postgresql"])
async def sessions(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = db_engine.make_engine(url)
    await db_engine.upgrade(engine)
    assert not await db_engine.pending_migrations(engine)
    yield db_engine.make_sessionmaker(engine)
    await engine.dispose()


def artifact(path: str, platform: str = "linux", signed: bool = False) -> Artifact:
    return Artifact(
        platform=platform,
        arch="x64",
        package=".deb",
        length=1,
        sha256="a" * 64,
        sha512="b" * 128,
        tuf_path=path,
        tuf_signed=signed,
    )


async def test_registry_queries(sessions: async_sessionmaker[AsyncSession]) -> None:
    suffix = queries.new_id()[:8]
    async with sessions.begin() as session:
        alice = User(username=f"alice{suffix}", password_hash="h")
        bob = User(username=f"bob{suffix}", password_hash="h")
        session.add_all([alice, bob])
        await session.flush()
        app = App(id=queries.new_id(), owner_id=alice.id, name="tool")
        session.add(app)
        await session.flush()
        v1 = Version(
            id=queries.new_id(), app_id=app.id, version="1.0", channel="default", changelog=[]
        )
        v1.artifacts = [
            artifact(f"tool-{suffix}/a.deb"),
            artifact(f"tool-{suffix}/b.dmg", "darwin"),
        ]
        v2 = Version(
            id=queries.new_id(),
            app_id=app.id,
            version="2.0",
            channel="beta",
            changelog=[],
            published=True,
        )
        v2.artifacts = [artifact(f"tool-{suffix}/c.deb")]
        session.add_all([v1, v2])
    async with sessions() as session:
        assert await queries.get_user(session, f"alice{suffix}") is not None
        assert [a.name for a in await queries.list_apps(session, alice.id)] == ["tool"]
        assert await queries.list_apps(session, bob.id) == []
        found = await queries.get_version(session, alice.id, v1.id)
        assert found is not None and found.artifacts[0].tuf_path.endswith("a.deb")
        assert await queries.get_version(session, bob.id, v1.id) is None
        darwin, total = await queries.search_versions(
            session,
            alice.id,
            app_names=None,
            filters=queries.VersionFilters(app_name="tool", platform="darwin"),
            page=1,
            limit=10,
        )
        assert [v.version for v in darwin] == ["1.0"] and total == 1
        published, total = await queries.search_versions(
            session,
            alice.id,
            app_names=None,
            filters=queries.VersionFilters(published=True),
            page=1,
            limit=10,
        )
        assert [v.version for v in published] == ["2.0"] and total == 1
        scoped, total = await queries.search_versions(
            session,
            alice.id,
            app_names=frozenset({"other"}),
            filters=queries.VersionFilters(),
            page=1,
            limit=10,
        )
        assert scoped == [] and total == 0
        paged, total = await queries.search_versions(
            session,
            alice.id,
            app_names=None,
            filters=queries.VersionFilters(),
            page=2,
            limit=1,
        )
        assert len(paged) == 1 and total == 2
    async with sessions.begin() as session:
        await queries.mark_signed(session, {f"tool-{suffix}/a.deb": ("a" * 64, True)}, "t-1")
        await queries.mark_signed(session, {f"tool-{suffix}/b.dmg": ("wrong", True)})
    async with sessions() as session:
        a = await queries.get_artifact_by_path(session, f"tool-{suffix}/a.deb")
        b = await queries.get_artifact_by_path(session, f"tool-{suffix}/b.dmg")
        assert a is not None and a.tuf_signed and b is not None and not b.tuf_signed
        assert a.tuf_task_id == "t-1" and b.tuf_task_id is None


async def test_constraints(sessions: async_sessionmaker[AsyncSession]) -> None:
    suffix = queries.new_id()[:8]
    async with sessions.begin() as session:
        user = User(username=f"carol{suffix}", password_hash="h")
        session.add(user)
        await session.flush()
        session.add(App(id=queries.new_id(), owner_id=user.id, name="dup"))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(App(id=queries.new_id(), owner_id=user.id, name="dup"))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(User(username=f"carol{suffix}", password_hash="h"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_migration_0004_keeps_existing_rows(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Data written under 0001 upgrades: flags default to false, every account gets its
    own token generation (so login tokens issued before are refused: they carry none)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:  # a database of its own: the session's pg_url is already at head
        name = f"tufsync_mig_{uuid.uuid4().hex[:10]}"
        pg_admin(f'CREATE DATABASE "{name}"')
        request.addfinalizer(lambda: pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    engine = db_engine.make_engine(url)

    def to_0001(connection: Connection) -> None:
        command.upgrade(db_engine._alembic_config(connection), "0001")

    async with engine.begin() as conn:
        await conn.run_sync(to_0001)
        for name in ("old_one", "old_two"):
            await conn.execute(
                text("INSERT INTO users (username, password_hash) VALUES (:u, 'h')"), {"u": name}
            )
        user_id = (
            await conn.execute(text("SELECT id FROM users WHERE username='old_one'"))
        ).scalar()
        await conn.execute(
            text("INSERT INTO apps (id, owner_id, name, description) VALUES ('a1', :o, 'app', '')"),
            {"o": user_id},
        )
    await db_engine.upgrade(engine)
    assert not await db_engine.pending_migrations(engine)
    sessions = db_engine.make_sessionmaker(engine)
    async with sessions() as session:
        users = [await queries.get_user(session, n) for n in ("old_one", "old_two")]
        generations = {u.token_generation for u in users if u is not None}
        assert len(generations) == 2 and all(len(g) == 32 for g in generations)
        app = await queries.get_app(session, int(user_id or 0), "app")
        assert app is not None
        assert (app.tuf, app.private, app.reports, app.cdn_edge, app.logo) == (
            False,
            False,
            False,
            False,
            "",
        )
    await engine.dispose()
